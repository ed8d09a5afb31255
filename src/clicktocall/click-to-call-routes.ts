/**
 * `GET|POST /api/makecallexternal` (RetailCRM's makeCallUrl): clientId → enterprise (hash lookup, then a
 * constant-time comparison), then the ClickToCall use case. Answers `{success, status, reason?}` promptly.
 * Unknown clientId → 403 `{"success":false}` and nothing more, so the endpoint reveals nothing to a prober.
 */
import { errorCode, errorMessage, InputError } from '../lib/errors.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import { json, type HttpReply, type HttpServer } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import type { Logger } from '../lib/logger.js';
import { enterpriseByClientId } from '../access/client-id.js';
import { safeEqual } from '../secrets/secret-box.js';
import type { ClickToCallOutcome } from './audit-store.js';
import type { ClickToCall } from './click-to-call.js';

export interface ClickToCallRouteDeps {
  readonly enterprises: Pick<EnterpriseStore, 'findByClientId'>;
  readonly clickToCall: Pick<ClickToCall, 'start'>;
  readonly logger: Logger;
}

export const FORBIDDEN: HttpReply = json(403, { success: false });

/** The enterprise whose clientId this is, or null. The hash finds the row; the comparison is constant-time. */
/** HTTP status for a failed click-to-call: the manager's side (409) or the PBX's (502/503). */
function failureStatus(outcome: ClickToCallOutcome): number {
  switch (outcome) {
    case 'busy':
    case 'no_answer':
      return 409;
    case 'not_configured':
    case 'pbx_unreachable':
    case 'pbx_timeout':
      return 503;
    default:
      return 502;
  }
}

export function registerClickToCallRoutes(http: HttpServer, deps: ClickToCallRouteDeps): void {
  http.route(['GET', 'POST'], PATHS.makeCall, async (req) => {
    const params = await req.params();
    const enterprise = await enterpriseByClientId(deps.enterprises, params.get('clientId'));
    if (!enterprise) {
      deps.logger.warn('click-to-call refused: unknown clientId', { remote: req.raw.socket.remoteAddress });
      return FORBIDDEN;
    }
    const log = deps.logger.child({ enterprise: enterprise.number });
    try {
      const answer = await deps.clickToCall.start(enterprise, {
        code: params.get('code') ?? undefined,
        userId: params.get('userId') ?? undefined,
        phone: params.get('phone') ?? undefined,
        externalPhone: params.get('externalPhone') ?? undefined,
      });
      if (answer.status === 'started') return json(200, { success: true, status: 'started', callId: answer.callId });
      return json(failureStatus(answer.outcome), {
        success: false,
        status: 'failed',
        reason: answer.reason,
        callId: answer.callId,
      });
    } catch (err) {
      if (err instanceof InputError) {
        log.warn('click-to-call refused', { field: err.field, reason: err.message });
        return json(400, { success: false, status: 'failed', error: err.message, ...(err.field ? { field: err.field } : {}) });
      }
      log.error('click-to-call failed', { code: errorCode(err), reason: errorMessage(err) });
      return json(500, { success: false, status: 'failed', reason: 'internal error' });
    }
  });
}
