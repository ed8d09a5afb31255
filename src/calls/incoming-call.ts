/**
 * `/incoming`: name and route an incoming caller. The named steps, in order:
 *   readCall → resolveEnterprise → normaliseCaller → lookupCaller → chooseRoute → setRouteVariables
 * Whatever fails, the call is routed within its budget: the dialplan's default route (RCRM_MANAGER empty)
 * with RCRM_LOOKUP saying what happened.
 */
import { errorCode } from '../errors.js';
import type { CallerLookup } from './caller-lookup.js';
import { readCall, resolveEnterprise, type CallContext, type CallContextDeps } from './call-context.js';
import type { AgiChannel } from './agi-channel.js';
import type { EnterpriseDirectory } from './enterprise-directory.js';
import { normalisePhone } from './phone-number.js';
import { chooseIncomingRoute, FAIL_OPEN_ROUTE, incomingVariables, type IncomingRoute } from './route-decision.js';

export interface IncomingDeps extends CallContextDeps {
  readonly directory: EnterpriseDirectory;
  readonly lookup: CallerLookup;
  /** Called after the route is set (popups, customer creation: later features hook in here). */
  readonly afterRoute?: (ctx: CallContext, route: IncomingRoute, extra: RouteExtra) => void;
}

export interface RouteExtra {
  readonly enterprise: string | null;
  readonly phone: string | null;
}

export async function handleIncoming(session: AgiChannel, deps: IncomingDeps): Promise<void> {
  const ctx = readCall(session, deps);
  try {
    const { route, extra } = await decideIncoming(ctx, deps);
    await setRouteVariables(ctx, route);
    ctx.log.info('incoming call routed', {
      lookup: route.lookup,
      manager: route.manager || undefined,
      customerId: route.customerId || undefined,
      managerMissing: route.managerMissing,
      ms: Date.now() - ctx.startedAt,
    });
    deps.afterRoute?.(ctx, route, extra);
  } finally {
    ctx.done();
  }
}

async function decideIncoming(ctx: CallContext, deps: IncomingDeps): Promise<{ route: IncomingRoute; extra: RouteExtra }> {
  try {
    const resolved = await resolveEnterprise(ctx, deps.directory);
    if (!resolved.ok) return { route: FAIL_OPEN_ROUTE('ERROR'), extra: { enterprise: null, phone: null } };
    const { view } = resolved;
    const phone = normalisePhone(ctx.callerNumber, view.enterprise.country);
    if (phone.kind !== 'e164') {
      ctx.log.info('caller number is not a public number', { reason: phone.reason });
      return { route: FAIL_OPEN_ROUTE('NOT_FOUND'), extra: { enterprise: view.enterprise.number, phone: null } };
    }
    const result = await deps.lookup.lookup(view.enterprise, phone.e164, { deadline: ctx.deadline });
    if (result.source === 'stale') ctx.log.warn('RetailCRM unavailable: routed on a stale customer row');
    if (result.caller) ctx.log = ctx.log.child({ customerId: result.caller.customerId });
    return {
      route: chooseIncomingRoute(result, view.extensionByUser),
      extra: { enterprise: view.enterprise.number, phone: phone.e164 },
    };
  } catch (err) {
    ctx.log.error('incoming lookup failed', { code: errorCode(err), err });
    return { route: FAIL_OPEN_ROUTE('ERROR'), extra: { enterprise: null, phone: null } };
  }
}

export async function setRouteVariables(ctx: CallContext, route: IncomingRoute): Promise<void> {
  for (const [name, value] of incomingVariables(route)) {
    await ctx.session.setVariable(name, value);
  }
}
