/**
 * `/incoming`: name and route an incoming caller. The named steps, in order:
 *   readCall → channelFacts (from the URL, else one round trip) → resolveEnterprise → normaliseCaller → lookupCaller → chooseRoute →
 *   setRouteVariables → notifyCrm (popup, call record, customer creation: off the critical path)
 * Whatever fails, the call is routed within its budget: the dialplan's default route (RCRM_MANAGER empty) with
 * RCRM_LOOKUP saying what happened.
 */
import { DeadlineExpired, raceDeadline } from '../lib/deadline.js';
import { errorCode } from '../lib/errors.js';
import { EXTENSION_CODE } from '../db/extension-store.js';
import type { CallerLookup, LookupResult } from '../customers/caller-lookup.js';
import { readCall, resolveEnterprise, type CallContext, type CallContextDeps } from './call-context.js';
import type { AgiChannel } from './agi-channel.js';
import { parseRingCodes } from './call-result.js';
import { channelFacts, channelFactsFromUrl, readChannelFacts } from './channel-facts.js';
import type { EnterpriseDirectory, EnterpriseView } from './enterprise-directory.js';
import { normalisePhone } from '../domain/phone-number.js';
import { chooseIncomingRoute, FAIL_OPEN_ROUTE, incomingVariables, skipAwayManager, type IncomingRoute } from './route-decision.js';
import { writeVariables } from './write-variables.js';

/** What later steps (popups, history, customer creation) need to know about a routed call. */
export interface RoutedCall {
  readonly direction: 'in' | 'out';
  readonly view: EnterpriseView;
  readonly linkedid: string;
  readonly phone: string;
  readonly externalPhone: string;
  readonly ringCodes: readonly string[];
  readonly lookup: LookupResult;
  readonly startedAt: Date;
  readonly crmCallId?: string;
}

export type CallNotifier = (ctx: CallContext, call: RoutedCall) => void;

/** Managers' RetailCRM statuses (changeUserStatusUrl); `away` = break or dinner. */
export interface ManagerStatuses {
  statusOf(enterprise: string, userId: number): Promise<string | null>;
}

export interface IncomingDeps extends CallContextDeps {
  readonly directory: EnterpriseDirectory;
  readonly lookup: CallerLookup;
  readonly notify?: CallNotifier;
  readonly managerStatus?: ManagerStatuses;
}

const AWAY = new Set(['break', 'dinner']);
/** RCRM_RING_CODES as the shipped dialplan passes it in the URL (`ring=${URIENCODE(${RCRM_RING_CODES})}`). */
const RING_PARAM = { RCRM_RING_CODES: 'ring' } as const;
/** RetailCRM takes at most 50 codes in one call event. */
export const MAX_POPUP_CODES = 50;

/** Leaves RCRM_MANAGER empty for a manager on break or dinner; the status read is bounded by the call budget. */
async function applyManagerStatus(ctx: CallContext, deps: IncomingDeps, view: EnterpriseView, route: IncomingRoute, userId: number | null): Promise<IncomingRoute> {
  if (!deps.managerStatus || route.manager === '' || userId === null || !view.enterprise.settings.skipManagerOnBreak) return route;
  try {
    const status = await raceDeadline(deps.managerStatus.statusOf(view.enterprise.number, userId), ctx.deadline);
    return status !== null && AWAY.has(status) ? skipAwayManager(route, status) : route;
  } catch (err) {
    if (!(err instanceof DeadlineExpired)) ctx.log.warn('cannot read the manager status', { code: errorCode(err) });
    return route;
  }
}

export async function handleIncoming(session: AgiChannel, deps: IncomingDeps): Promise<void> {
  const ctx = readCall(session, deps);
  try {
    const { route, call } = await decideIncoming(ctx, deps);
    await setRouteVariables(ctx, route);
    // The popup first: the log line below is not on its path.
    if (call && deps.notify) deps.notify(ctx, call);
    ctx.log.info('incoming call routed', {
      lookup: route.lookup,
      source: call?.lookup.source,
      manager: route.manager || undefined,
      customerId: route.customerId || undefined,
      managerMissing: route.managerMissing,
      ms: Date.now() - ctx.startedAt,
    });
  } finally {
    ctx.done();
  }
}

async function decideIncoming(ctx: CallContext, deps: IncomingDeps): Promise<{ route: IncomingRoute; call: RoutedCall | null }> {
  try {
    // The linkedid and ring codes come in the URL (the shipped dialplan); else one round trip, only when popups
    // need them or the enterprise is not in the URL.
    let facts = ctx.session.query.get('enterprise') ? channelFactsFromUrl(ctx.session, RING_PARAM) : await channelFacts(ctx.session, RING_PARAM);
    const resolved = await resolveEnterprise(ctx, deps.directory, facts?.enterpriseVar);
    if (!resolved.ok) return { route: FAIL_OPEN_ROUTE('ERROR'), call: null };
    const { view } = resolved;
    if (facts === null && (view.enterprise.settings.telephonyEvents || view.enterprise.settings.autoCreateCustomers)) {
      facts = await readChannelFacts(ctx.session, Object.keys(RING_PARAM));
    }
    const phone = normalisePhone(ctx.callerNumber, view.enterprise.country);
    if (phone.kind !== 'e164') {
      ctx.log.info('caller number is not a public number', { reason: phone.reason });
      return { route: FAIL_OPEN_ROUTE('NOT_FOUND'), call: null };
    }
    const lookup = await deps.lookup.lookup(view.enterprise, phone.e164, { deadline: ctx.deadline });
    if (lookup.source === 'stale') ctx.log.warn('RetailCRM unavailable: routed on a stale customer row');
    if (lookup.caller) ctx.log = ctx.log.child({ customerId: lookup.caller.customerId });
    const route = await applyManagerStatus(ctx, deps, view, chooseIncomingRoute(lookup, view.extensionByUser), lookup.caller?.managerUserId ?? null);
    return {
      route,
      call: {
        direction: 'in',
        view,
        linkedid: facts?.linkedid ?? ctx.session.env.uniqueid,
        phone: phone.e164,
        externalPhone: ctx.session.env.extension,
        ringCodes: popupCodes(route, facts?.extra['RCRM_RING_CODES'], view),
        lookup,
        startedAt: new Date(ctx.startedAt),
      },
    };
  } catch (err) {
    ctx.log.error('incoming lookup failed', { code: errorCode(err), err });
    return { route: FAIL_OPEN_ROUTE('ERROR'), call: null };
  }
}

/**
 * Who gets the popup (and, at the end, the hangup event that closes it): the routed manager, whose phone rings
 * first; else the default route's extensions (RCRM_RING_CODES, e.g. the queue's members); else every mapped
 * extension, since anyone may answer.
 */
export function popupCodes(route: IncomingRoute, ringCodesVar: string | undefined, view: EnterpriseView): string[] {
  if (route.manager !== '') return [route.manager];
  const codes = parseRingCodes(ringCodesVar, (c) => EXTENSION_CODE.test(c));
  return (codes.length > 0 ? codes : [...view.userByExtension.keys()]).slice(0, MAX_POPUP_CODES);
}

export async function setRouteVariables(ctx: CallContext, route: IncomingRoute): Promise<void> {
  await writeVariables(ctx.session, incomingVariables(route));
}
