/**
 * The user-status plugin: `GET|POST /api/changeuserstatus` (RetailCRM's changeUserStatusUrl): clientId → enterprise as for click-to-call,
 * `status` ∈ free|busy|dinner|break, the manager by `userId` (or by `code` through the extension mapping), stored
 * in the ManagerStatusDirectory. Nothing is echoed back to RetailCRM (that would loop).
 */
import { errorCode, InputError } from '../lib/errors.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { ExtensionStore } from '../db/extension-store.js';
import type { FastifyPluginAsync, RouteHandlerMethod } from 'fastify';
import { callerInput, errorBody, ERROR_SCHEMA, inputText } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import type { Logger } from '../lib/logger.js';
import type { AuditEntry } from '../audit/audit-store.js';
import { clientIdAuth } from '../access/client-id.js';
import { parseManagerStatus, type ManagerStatusDirectory } from './manager-status.js';

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

/** What RetailCRM sends to changeUserStatusUrl (docs: retailcrm-api.md §3.2), as a GET query or a POST form. */
const USER_STATUS_INPUT = {
  type: 'object',
  properties: {
    clientId: { type: 'string', description: 'the tenant secret set at registration' },
    userId: { type: 'string', maxLength: 32, description: "the manager's RetailCRM user id" },
    code: { type: 'string', maxLength: 64, description: "the manager's extension (when userId is absent)" },
    status: { type: 'string', maxLength: 32, description: 'free, busy, dinner or break' },
  },
} as const;

export const userStatusPlugin: FastifyPluginAsync<UserStatusRouteDeps> = async (app, deps) => {
  const auth = clientIdAuth({ enterprises: deps.enterprises, logger: deps.logger, what: 'user status' });
  const common = {
    summary: "changeUserStatusUrl: RetailCRM reports a manager's status",
    tags: ['RetailCRM callbacks'],
    response: { 200: { type: 'object', properties: { success: { type: 'boolean' } } }, '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA },
  };
  const handler: RouteHandlerMethod = async (request, reply) => {
    const enterprise = auth.enterpriseOf(request);
    const input = callerInput(request);
    try {
      const status = parseManagerStatus(inputText(input, 'status'));
      const userId = await managerUserId(deps, enterprise.number, inputText(input, 'userId')?.trim() ?? '', inputText(input, 'code')?.trim() ?? '');
      await deps.statuses.set(enterprise.number, userId, status);
      request.logger.info('manager status changed', { enterprise: enterprise.number, userId, status });
      await deps.recordChange?.({
        actor: `RetailCRM user ${userId} via changeUserStatusUrl from ${request.socket.remoteAddress ?? 'unknown'}`,
        action: 'manager.status',
        enterprise: enterprise.number,
        after: { userId, status },
      }).catch((err: unknown) => request.logger.error('audit log not written', { code: errorCode(err), err }));
      return { success: true };
    } catch (err) {
      if (err instanceof InputError) return reply.code(400).send(errorBody(err.message));
      request.logger.error('manager status not stored', { enterprise: enterprise.number, code: errorCode(err), err });
      return reply.code(500).send(errorBody('internal error'));
    }
  };
  // RetailCRM sends a GET with a query (retailcrm-api.md §3.2); a POST form or JSON body is accepted too.
  app.get(PATHS.userStatus, { preValidation: auth.hook, schema: { ...common, querystring: USER_STATUS_INPUT } }, handler);
  app.post(PATHS.userStatus, { preValidation: auth.hook, schema: { ...common, body: USER_STATUS_INPUT } }, handler);
};
