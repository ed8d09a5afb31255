/**
 * The click-to-call plugin: `GET|POST /api/makecallexternal` (RetailCRM's makeCallUrl). RetailCRM's clientId is
 * the credential (the clientId auth hook), then the ClickToCall use case. Answers `{success, status, reason?}`
 * promptly. Unknown clientId → 403 `{"success":false}` and nothing more, so the endpoint reveals nothing to a
 * prober. Rate-limited per clientId (MAKE_CALL_RATE_PER_MINUTE).
 */
import type { FastifyPluginAsync, RouteHandlerMethod, RouteShorthandOptions } from 'fastify';
import { errorCode, errorMessage, InputError } from '../lib/errors.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import { callerInput, ERROR_SCHEMA, inputText } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import type { Logger } from '../lib/logger.js';
import { clientIdAuth, clientIdOf } from '../access/client-id.js';
import type { ClickToCallOutcome } from './audit-store.js';
import type { ClickToCall } from './click-to-call.js';

export interface ClickToCallRouteDeps {
  readonly enterprises: Pick<EnterpriseStore, 'findByClientId'>;
  readonly clickToCall: Pick<ClickToCall, 'start'>;
  readonly logger: Logger;
  /** Requests per clientId per window; absent or max 0: no limit. */
  readonly rateLimit?: { readonly max: number; readonly windowMs: number };
}

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

/** What RetailCRM sends to makeCallUrl (docs: retailcrm-api.md §3.1), as a GET query or a POST form. */
const MAKE_CALL_INPUT = {
  type: 'object',
  properties: {
    clientId: { type: 'string', description: 'the tenant secret set at registration' },
    code: { type: 'string', maxLength: 64, description: "the clicking manager's extension" },
    userId: { type: 'string', maxLength: 32, description: "the clicking manager's RetailCRM user id" },
    phone: { type: 'string', maxLength: 128, description: 'the number to dial, as stored in RetailCRM' },
    externalPhone: { type: 'string', maxLength: 128, description: 'the external number of the entity’s store' },
  },
} as const;

const ANSWER_SCHEMA = {
  type: 'object',
  properties: {
    success: { type: 'boolean' },
    status: { type: 'string', enum: ['started', 'failed'] },
    callId: { type: 'string' },
    reason: { type: 'string' },
    error: { type: 'string' },
    field: { type: 'string' },
  },
} as const;

export const clickToCallPlugin: FastifyPluginAsync<ClickToCallRouteDeps> = async (app, deps) => {
  const auth = clientIdAuth({ enterprises: deps.enterprises, logger: deps.logger, what: 'click-to-call' });
  const limit = deps.rateLimit;
  const common = {
    summary: 'makeCallUrl: RetailCRM asks the PBX to ring a manager, then the customer',
    tags: ['RetailCRM callbacks'],
    response: { 200: ANSWER_SCHEMA, '4xx': ANSWER_SCHEMA, '5xx': ANSWER_SCHEMA, 403: ERROR_SCHEMA, 429: ERROR_SCHEMA },
  };
  // One limiter for GET and POST, so the two methods share each clientId's budget. It runs after the auth hook
  // (preHandler), so only a known clientId's requests count against it.
  const limited = limit && limit.max > 0
    ? app.rateLimit({ max: limit.max, timeWindow: limit.windowMs, keyGenerator: (req) => `clientId:${clientIdOf(req) ?? ''}` })
    : undefined;
  const options: RouteShorthandOptions = { preValidation: auth.hook, ...(limited ? { preHandler: limited } : {}) };
  const handler: RouteHandlerMethod = async (request, reply) => {
    const enterprise = auth.enterpriseOf(request);
    const input = callerInput(request);
    const log = request.logger.child({ enterprise: enterprise.number });
    try {
      const answer = await deps.clickToCall.start(enterprise, {
        code: inputText(input, 'code') ?? undefined,
        userId: inputText(input, 'userId') ?? undefined,
        phone: inputText(input, 'phone') ?? undefined,
        externalPhone: inputText(input, 'externalPhone') ?? undefined,
      });
      if (answer.status === 'started') return { success: true, status: 'started', callId: answer.callId };
      return reply.code(failureStatus(answer.outcome)).send({
        success: false,
        status: 'failed',
        reason: answer.reason,
        callId: answer.callId,
      });
    } catch (err) {
      if (err instanceof InputError) {
        log.warn('click-to-call refused', { field: err.field, reason: err.message });
        return reply.code(400).send({ success: false, status: 'failed', error: err.message, ...(err.field ? { field: err.field } : {}) });
      }
      log.error('click-to-call failed', { code: errorCode(err), reason: errorMessage(err) });
      return reply.code(500).send({ success: false, status: 'failed', reason: 'internal error' });
    }
  };
  // RetailCRM sends a GET with a query (retailcrm-api.md §3.1); a POST form or JSON body is accepted too.
  app.get(PATHS.makeCall, { ...options, schema: { ...common, querystring: MAKE_CALL_INPUT } }, handler);
  app.post(PATHS.makeCall, { ...options, schema: { ...common, body: MAKE_CALL_INPUT } }, handler);
};
