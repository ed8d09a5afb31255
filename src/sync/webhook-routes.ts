/**
 * The webhook plugin, `POST|GET /retailcrm/webhook/{enterprise}/{token}`: RetailCRM triggers ("HTTP request" action) telling us a
 * customer or an order changed. RetailCRM signs nothing, so the per-enterprise token in the URL is the only
 * credential (a bad one, or an unknown enterprise, gets the same bare 403), and the payload is only a hint: we
 * re-read the customer or order by id and rewrite our rows from what RetailCRM says. The answer comes within
 * `answerWithinMs`; slower work finishes in tracked background work (202). Parameters: docs/retailcrm-triggers.md.
 */
import { deadlineSignal, waitAtMost } from '../lib/deadline.js';
import { errorCode, InputError } from '../lib/errors.js';
import type { FastifyPluginAsync, RouteHandlerMethod } from 'fastify';
import { callerInput, errorBody } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import { enterpriseTokenAuth, type TokenClaim } from '../access/enterprise-token-auth.js';
import { CustomerStore } from '../db/customer-store.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../lib/logger.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { TaskTracker } from '../lib/task-tracker.js';
import { normalisePhone } from '../domain/phone-number.js';
import type { CustomerRefresher } from './customer-refresh.js';
import type { OrderRefresher } from './order-refresh.js';

export interface WebhookRoutesDeps {
  readonly pool: Pool;
  readonly enterprises: Pick<EnterpriseStore, 'find'>;
  readonly box: Pick<SecretBox, 'verify'>;
  readonly customers: CustomerRefresher;
  readonly orders: OrderRefresher;
  /** Refreshes that outlive the answer are tracked here; the composition root drains it at shutdown. */
  readonly tasks: TaskTracker;
  readonly logger: Logger;
  /** How long the request waits for the refresh before answering 202; default 3 s. */
  readonly answerWithinMs?: number;
  /** Deadline of the whole refresh (RetailCRM reads and database writes); default 20 s. */
  readonly refreshTimeoutMs?: number;
}

export type WebhookTarget =
  | { readonly kind: 'customer'; readonly customerId: number; readonly phone: string | undefined }
  | { readonly kind: 'order'; readonly orderId: number; readonly phone: string | undefined }
  | { readonly kind: 'phone'; readonly phone: string };

const CUSTOMER_KEYS = ['customer_id', 'customerId', 'customer[id]', 'customer.id', 'customer'];
const ORDER_KEYS = ['order_id', 'orderId', 'order[id]', 'order.id', 'order'];
const EVENT_KEYS = ['event', 'type', 'action', 'trigger'];
const PHONE_KEYS = ['phone', 'customer_phone', 'customerPhone', 'customer[phone]', 'order[phone]'];

/** A positive integer id from a parameter: `123`, ` 123 `, or a JSON object with an id (`{"id":123}`). */
function idFrom(value: string | null): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d{1,15}$/.test(text)) return Number(text) > 0 ? Number(text) : undefined;
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { id?: unknown };
      return idFrom(parsed.id === undefined || parsed.id === null ? null : String(parsed.id));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function first(params: URLSearchParams, keys: readonly string[]): string | null {
  for (const key of keys) {
    const value = params.get(key);
    if (value !== null && value.trim() !== '') return value;
  }
  return null;
}

/**
 * What a trigger asked for. Liberal in names: customer_id/customerId/customer[id]/customer, order_id/…, or `id`
 * with an event saying which (`customer.edit`, `order.create`, …); a phone alone drops that phone's row.
 */
export function webhookTarget(params: URLSearchParams): WebhookTarget {
  const event = (first(params, EVENT_KEYS) ?? '').trim().toLowerCase();
  const phone = first(params, PHONE_KEYS)?.trim();
  let customerId = idFrom(first(params, CUSTOMER_KEYS));
  let orderId = idFrom(first(params, ORDER_KEYS));
  const id = idFrom(params.get('id'));
  if (id !== undefined) {
    if (event.startsWith('customer')) customerId ??= id;
    else if (event.startsWith('order')) orderId ??= id;
  }
  if (event.startsWith('order') && orderId !== undefined) return { kind: 'order', orderId, phone };
  if (customerId !== undefined) return { kind: 'customer', customerId, phone };
  if (orderId !== undefined) return { kind: 'order', orderId, phone };
  if (phone !== undefined && phone !== '') return { kind: 'phone', phone };
  throw new InputError(
    id !== undefined && !event.startsWith('customer') && !event.startsWith('order')
      ? 'say what "id" is: add event=customer.edit (or customer.create, order.create, order.edit), or send customer_id / order_id'
      : 'no usable id: send customer_id=<RetailCRM customer id> or order_id=<RetailCRM order id> (see docs/retailcrm-triggers.md)',
    'id',
  );
}

export interface WebhookOutcome {
  readonly kind: WebhookTarget['kind'];
  readonly customerId?: number;
  readonly orderId?: number;
  readonly phones: number;
}

/** The refresh a trigger asks for; exported for tests. */
export async function applyWebhook(
  deps: Pick<WebhookRoutesDeps, 'pool' | 'customers' | 'orders'>,
  enterprise: Enterprise,
  target: WebhookTarget,
  signal: AbortSignal,
): Promise<WebhookOutcome> {
  switch (target.kind) {
    case 'customer': {
      const result = await deps.customers.refresh(enterprise, target.customerId, signal);
      return { kind: 'customer', customerId: target.customerId, phones: result.phones.length };
    }
    case 'order': {
      const [order] = await deps.orders.refresh(enterprise, [target.orderId], signal);
      if (order?.customerId === undefined) return { kind: 'order', orderId: target.orderId, phones: 0 };
      const result = await deps.customers.refresh(enterprise, order.customerId, signal);
      return { kind: 'order', orderId: target.orderId, customerId: order.customerId, phones: result.phones.length };
    }
    case 'phone': {
      // Only a phone: forget what we know about it, so the next call from it asks RetailCRM afresh.
      const n = normalisePhone(target.phone, enterprise.country);
      if (n.kind !== 'e164') throw new InputError('the phone parameter is not a usable phone number', 'phone');
      await new CustomerStore(deps.pool).forgetPhone(enterprise.number, n.e164, (tx) => deps.customers.publish(tx, enterprise, [n.e164]));
      deps.customers.changed(enterprise, [n.e164]);
      return { kind: 'phone', phones: 1 };
    }
  }
}

function parsePath(rest: string): TokenClaim | null {
  const parts = rest.split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return null;
  try {
    return { enterprise: decodeURIComponent(parts[0] ?? ''), token: decodeURIComponent(parts[1] ?? '') };
  } catch {
    return null;
  }
}

/** A trigger's parameters as `webhookTarget` reads them; nested JSON objects stay JSON text (`{"id":123}`). */
function triggerParams(input: Record<string, unknown>): URLSearchParams {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(input)) {
    if (v === null || v === undefined) continue;
    params.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v as string | number | boolean));
  }
  return params;
}

const TRIGGER_FIELDS = {
  event: { type: 'string', maxLength: 64, description: 'customer.create, customer.edit, order.create, order.edit' },
  id: { type: 'string', maxLength: 32 },
  customer_id: { type: 'string', maxLength: 32 },
  order_id: { type: 'string', maxLength: 32 },
  phone: { type: 'string', maxLength: 64 },
} as const;

export const webhookPlugin: FastifyPluginAsync<WebhookRoutesDeps> = async (app, deps) => {
  const answerWithinMs = deps.answerWithinMs ?? 3_000;
  const refreshTimeoutMs = deps.refreshTimeoutMs ?? 20_000;
  const auth = enterpriseTokenAuth({
    purpose: 'webhook',
    enterprises: deps.enterprises,
    box: deps.box,
    // From the raw path, each part decoded once (the router's decoded wildcard would decode twice).
    claim: (request) => parsePath((request.url.split('?')[0] ?? '').slice(PATHS.webhookPrefix.length)),
  });

  const common = {
    summary: 'RetailCRM trigger: a customer or an order changed (docs/retailcrm-triggers.md)',
    description: 'The path is `/retailcrm/webhook/{enterprise}/{token}`. GET carries the parameters in the query, POST in a form or JSON body.',
    tags: ['RetailCRM callbacks'],
    params: { type: 'object', properties: { '*': { type: 'string', maxLength: 300, description: '{enterprise}/{token}' } } },
  };
  const handler: RouteHandlerMethod = async (request, reply) => {
    const { enterprise } = auth.authorizedOf(request);
    const target = webhookTarget(triggerParams(callerInput(request)));

    const deadline = deadlineSignal(refreshTimeoutMs);
    const work = applyWebhook(deps, enterprise, target, deadline.signal).finally(() => deadline.dispose());
    try {
      const waited = await waitAtMost(work, answerWithinMs);
      if (!waited.settled) {
        deps.tasks.track(
          work.catch((err: unknown) => {
            request.logger.warn('webhook refresh failed in the background; the history poller will catch up', {
              enterprise: enterprise.number,
              code: errorCode(err),
              err,
            });
          }),
        );
        return reply.code(202).send({ success: true, accepted: true });
      }
      return { success: true, ...waited.value };
    } catch (err) {
      if (err instanceof InputError) throw err;
      request.logger.warn('webhook refresh failed; the history poller will catch up', {
        enterprise: enterprise.number,
        code: errorCode(err),
        err,
      });
      return reply.code(502).send(errorBody('RetailCRM could not be read now; the change will be picked up by polling', { code: errorCode(err) }));
    }
  };
  const url = `${PATHS.webhookPrefix}*`;
  app.get(url, { preValidation: auth.hook, schema: { ...common, querystring: { type: 'object', properties: TRIGGER_FIELDS } } }, handler);
  app.post(url, { preValidation: auth.hook, schema: { ...common, body: { type: 'object', properties: TRIGGER_FIELDS, additionalProperties: true } } }, handler);
};
