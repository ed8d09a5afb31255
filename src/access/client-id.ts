/**
 * RetailCRM's callers prove their tenant by the integration module's `clientId`; this finds the tenant for one,
 * and is the auth hook of every route RetailCRM calls with it (makeCallUrl, changeUserStatusUrl).
 */
import type { FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify';
import type { Enterprise } from '../domain/enterprise.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Logger } from '../lib/logger.js';
import { safeEqual } from '../secrets/secret-box.js';

export async function enterpriseByClientId(
  enterprises: Pick<EnterpriseStore, 'findByClientId'>,
  clientId: string | null,
): Promise<Enterprise | null> {
  if (clientId === null || clientId === '' || clientId.length > 200) return null;
  const found = await enterprises.findByClientId(clientId);
  return found && safeEqual(found.clientId, clientId) ? found : null;
}

/** The `clientId` a RetailCRM callback carries: in the query of a GET, in the body (form or JSON) of a POST. */
export function clientIdOf(request: FastifyRequest): string | null {
  const source = request.method === 'POST' ? request.body : request.query;
  const value = source !== null && typeof source === 'object' ? (source as Record<string, unknown>)['clientId'] : undefined;
  return typeof value === 'string' ? value : null;
}

export interface ClientIdAuth {
  /**
   * preValidation hook: runs before the schema, so an unknown clientId gets the bare 403 `{"success":false}`
   * (revealing nothing to a prober) whatever else the request holds.
   */
  readonly hook: preValidationAsyncHookHandler;
  /** The tenant the hook let through. */
  enterpriseOf(request: FastifyRequest): Enterprise;
}

export function clientIdAuth(deps: {
  readonly enterprises: Pick<EnterpriseStore, 'findByClientId'>;
  readonly logger: Logger;
  /** For the refusal log line: `click-to-call`, `user status`. */
  readonly what: string;
}): ClientIdAuth {
  const authenticated = new WeakMap<FastifyRequest, Enterprise>();
  const hook = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const enterprise = await enterpriseByClientId(deps.enterprises, clientIdOf(request));
    if (!enterprise) {
      request.logger.warn(`${deps.what} refused: unknown clientId`, { remote: request.socket.remoteAddress });
      await reply.code(403).send({ success: false });
      return;
    }
    authenticated.set(request, enterprise);
  };
  return {
    hook,
    enterpriseOf(request) {
      const e = authenticated.get(request);
      if (!e) throw new Error('clientIdAuth hook did not run for this route');
      return e;
    },
  };
}
