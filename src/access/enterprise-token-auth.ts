/**
 * The auth hook of routes whose only credential is a per-enterprise signed token: RetailCRM triggers (the
 * `webhook` token in the URL) and the dashboard (the `dashboard` token, in the query or as a Bearer header).
 * A bad token and an unknown enterprise cost the same and get the same bare 403.
 */
import type { FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify';
import type { TokenGenerations } from '../domain/enterprise.js';
import { verifyEnterpriseToken, type TokenPurpose } from '../secrets/enterprise-tokens.js';
import type { SecretBox } from '../secrets/secret-box.js';

export interface TokenClaim {
  readonly enterprise: string;
  readonly token: string;
}

export interface TokenAuthed<E> {
  readonly enterprise: E;
  readonly token: string;
}

export interface EnterpriseTokenAuth<E> {
  readonly hook: preValidationAsyncHookHandler;
  authorizedOf(request: FastifyRequest): TokenAuthed<E>;
}

export function enterpriseTokenAuth<E extends { readonly settings: { readonly tokenGenerations?: TokenGenerations } }>(deps: {
  readonly purpose: TokenPurpose;
  readonly enterprises: { find(number: string): Promise<E | null> };
  readonly box: Pick<SecretBox, 'verify'>;
  /** Where this kind of caller puts enterprise and token; null when they are missing or malformed. */
  readonly claim: (request: FastifyRequest) => TokenClaim | null;
}): EnterpriseTokenAuth<E> {
  const authorized = new WeakMap<FastifyRequest, TokenAuthed<E>>();
  const hook = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const claim = deps.claim(request);
    const enterprise = claim ? await deps.enterprises.find(claim.enterprise) : null;
    // Verified whether or not the enterprise exists, so an unknown enterprise costs the same as a bad token.
    const valid = claim !== null &&
      verifyEnterpriseToken(deps.box, deps.purpose, claim.enterprise, enterprise?.settings.tokenGenerations, claim.token);
    if (!claim || !enterprise || !valid) {
      await reply.code(403).send({ success: false, error: 'forbidden' });
      return;
    }
    authorized.set(request, { enterprise, token: claim.token });
  };
  return {
    hook,
    authorizedOf(request) {
      const a = authorized.get(request);
      if (!a) throw new Error('enterpriseTokenAuth hook did not run for this route');
      return a;
    },
  };
}
