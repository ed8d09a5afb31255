/**
 * `GET|POST /api/changeuserstatus` (RetailCRM's changeUserStatusUrl): clientId → enterprise as for click-to-call,
 * `status` ∈ free|busy|dinner|break, the manager by `userId` (or by `code` through the extension mapping), stored
 * in the ManagerStatusDirectory. Nothing is echoed back to RetailCRM (that would loop).
 */
import { errorCode, InputError } from '../lib/errors.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { ExtensionStore } from '../db/extension-store.js';
import { json, type HttpReply, type HttpServer } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import type { Logger } from '../lib/logger.js';
import type { AuditEntry } from '../audit/audit-store.js';
import { enterpriseByClientId } from '../access/client-id.js';
import { parseManagerStatus, type ManagerStatusDirectory } from './manager-status.js';

const FORBIDDEN: HttpReply = json(403, { success: false });

export interface UserStatusRouteDeps {
  readonly enterprises: Pick<EnterpriseStore, 'findByClientId'>;
  readonly extensions: Pick<ExtensionStore, 'list'>;
  readonly statuses: Pick<ManagerStatusDirectory, 'set'>;
  readonly logger: Logger;
  /** Records the change in the audit log (the caller: RetailCRM for the user, from its address). */
  readonly recordChange?: (entry: Omit<AuditEntry, 'source'>) => Promise<unknown>;
}

async function managerUserId(deps: UserStatusRouteDeps, enterprise: string, userId: string, code: string): Promise<number> {
  if (userId !== '') {
    if (!/^\d{1,9}$/.test(userId) || Number(userId) <= 0) throw new InputError('userId must be a RetailCRM user id', 'userId');
    return Number(userId);
  }
  if (code === '') throw new InputError('userId or code is required', 'userId');
  const hit = (await deps.extensions.list(enterprise)).find((m) => m.ext === code);
  if (!hit) throw new InputError('code is not an extension of this enterprise', 'code');
  return hit.userId;
}

export function registerUserStatusRoutes(http: HttpServer, deps: UserStatusRouteDeps): void {
  http.route(['GET', 'POST'], PATHS.userStatus, async (req) => {
    const params = await req.params();
    const enterprise = await enterpriseByClientId(deps.enterprises, params.get('clientId'));
    if (!enterprise) {
      deps.logger.warn('user status refused: unknown clientId', { remote: req.raw.socket.remoteAddress });
      return FORBIDDEN;
    }
    try {
      const status = parseManagerStatus(params.get('status'));
      const userId = await managerUserId(deps, enterprise.number, params.get('userId')?.trim() ?? '', params.get('code')?.trim() ?? '');
      await deps.statuses.set(enterprise.number, userId, status);
      deps.logger.info('manager status changed', { enterprise: enterprise.number, userId, status });
      await deps.recordChange?.({
        actor: `RetailCRM user ${userId} via changeUserStatusUrl from ${req.raw.socket.remoteAddress ?? 'unknown'}`,
        action: 'manager.status',
        enterprise: enterprise.number,
        after: { userId, status },
      }).catch((err: unknown) => deps.logger.error('audit log not written', { code: errorCode(err), err }));
      return json(200, { success: true });
    } catch (err) {
      if (err instanceof InputError) return json(400, { success: false, error: err.message });
      deps.logger.error('manager status not stored', { enterprise: enterprise.number, code: errorCode(err), err });
      return json(500, { success: false, error: 'internal error' });
    }
  });
}
