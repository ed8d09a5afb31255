/**
 * `POST|GET /retailcrm/webhook/{enterprise}/{token}`: RetailCRM triggers ("HTTP request" action) telling us a
 * customer or an order changed. RetailCRM signs nothing, so the per-enterprise token in the URL is the only
 * credential (a bad one, or an unknown enterprise, gets the same bare 403), and the payload is only a hint: we
 * re-read the customer or order by id and rewrite our rows from what RetailCRM says. The answer comes within
 * `answerWithinMs`; slower work finishes in tracked background work (202). Parameters: docs/retailcrm-triggers.md.
 */
import { waitAtMost } from '../lib/deadline.js';
import { errorCode, InputError } from '../lib/errors.js';
import { json, type HttpReply, type HttpRequest, type HttpServer } from '../http/http-server.js';
import { PATHS } from '../http/public-paths.js';
import { verifyEnterpriseToken } from '../secrets/enterprise-tokens.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import { inTransaction, type Pool } from '../db/pool.js';
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
      await inTransaction(deps.pool, async (tx) => {
        await tx.query('delete from retailcrm_customers where enterprise = $1 and phone = $2', [enterprise.number, n.e164]);
        await deps.customers.publish(tx, enterprise, [n.e164]);
      });
      deps.customers.changed(enterprise, [n.e164]);
      return { kind: 'phone', phones: 1 };
    }
  }
}

const forbidden = (): HttpReply => json(403, { success: false, error: 'forbidden' });

function parsePath(pathname: string): { enterprise: string; token: string } | null {
  const rest = pathname.slice(PATHS.webhookPrefix.length);
  const parts = rest.split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return null;
  try {
    return { enterprise: decodeURIComponent(parts[0] ?? ''), token: decodeURIComponent(parts[1] ?? '') };
  } catch {
    return null;
  }
}

export function registerWebhookRoutes(http: HttpServer, deps: WebhookRoutesDeps): void {
  const answerWithinMs = deps.answerWithinMs ?? 3_000;
  const refreshTimeoutMs = deps.refreshTimeoutMs ?? 20_000;

  const handle = async (req: HttpRequest): Promise<HttpReply> => {
    const path = parsePath(req.url.pathname);
    if (!path) return forbidden();
    const enterprise = await deps.enterprises.find(path.enterprise);
    // Verified whether or not the enterprise exists, so an unknown enterprise costs the same as a bad token.
    const valid = verifyEnterpriseToken(deps.box, 'webhook', path.enterprise, enterprise?.settings.tokenGenerations, path.token);
    if (!enterprise || !valid) return forbidden();
    const target = webhookTarget(await req.params());

    const work = applyWebhook(deps, enterprise, target, AbortSignal.timeout(refreshTimeoutMs));
    try {
      const waited = await waitAtMost(work, answerWithinMs);
      if (!waited.settled) {
        deps.tasks.track(
          work.catch((err: unknown) => {
            deps.logger.warn('webhook refresh failed in the background; the history poller will catch up', {
              enterprise: enterprise.number,
              code: errorCode(err),
              err,
            });
          }),
        );
        return json(202, { success: true, accepted: true });
      }
      return json(200, { success: true, ...waited.value });
    } catch (err) {
      if (err instanceof InputError) throw err;
      deps.logger.warn('webhook refresh failed; the history poller will catch up', {
        enterprise: enterprise.number,
        code: errorCode(err),
        err,
      });
      return json(502, { success: false, error: 'RetailCRM could not be read now; the change will be picked up by polling', code: errorCode(err) });
    }
  };

  http.route(['GET', 'POST'], (pathname) => pathname.startsWith(PATHS.webhookPrefix), handle);
}
