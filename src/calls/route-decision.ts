/**
 * Pure routing decisions for /incoming and /outgoing: from a lookup result and the enterprise's extension map to
 * the exact channel variables the dialplan reads. RCRM_MANAGER is only ever a validated extension code, so no
 * text from RetailCRM can reach a Dial() string.
 */
import { EXTENSION_CODE } from '../db/extension-store.js';
import type { LookupResult, LookupStatus } from '../customers/caller-lookup.js';

export interface IncomingRoute {
  /** CALLERID(name) to set, or null to leave the name Asterisk has. */
  readonly callerName: string | null;
  readonly manager: string;
  readonly customerId: string;
  readonly lookup: LookupStatus;
  readonly managerMissing?: 'none' | 'unmapped' | 'invalid' | 'away';
  /** RetailCRM status of a responsible manager who was skipped (break, dinner): RCRM_MANAGER_STATUS. */
  readonly managerStatus?: string;
}

export function chooseIncomingRoute(result: LookupResult, extensionByUser: ReadonlyMap<number, string>): IncomingRoute {
  const caller = result.caller;
  if (!caller) return { callerName: null, manager: '', customerId: '', lookup: result.status };
  let manager = '';
  let managerMissing: IncomingRoute['managerMissing'];
  if (caller.managerUserId === null) managerMissing = 'none';
  else {
    const ext = extensionByUser.get(caller.managerUserId);
    if (ext === undefined) managerMissing = 'unmapped';
    else if (!EXTENSION_CODE.test(ext)) managerMissing = 'invalid';
    else manager = ext;
  }
  return {
    callerName: caller.name === '' ? null : caller.name,
    manager,
    customerId: String(caller.customerId),
    lookup: result.status,
    ...(managerMissing ? { managerMissing } : {}),
  };
}

/** The variables /incoming sets, in the order it sets them (the name first: phones show it as they ring). */
export function incomingVariables(route: IncomingRoute): [string, string][] {
  const vars: [string, string][] = [];
  if (route.callerName !== null) vars.push(['CALLERID(name)', route.callerName]);
  vars.push(['RCRM_MANAGER', route.manager], ['RCRM_CUSTOMER_ID', route.customerId], ['RCRM_LOOKUP', route.lookup]);
  if (route.managerStatus !== undefined) vars.push(['RCRM_MANAGER_STATUS', route.managerStatus]);
  return vars;
}

/** One AGI command that writes channel variables: a single SET VARIABLE, or EXEC MSet for several. */
export type VariableWrite =
  | { readonly kind: 'set'; readonly name: string; readonly value: string }
  | { readonly kind: 'mset'; readonly pairs: readonly (readonly [string, string])[] };

// What MSet may carry: Asterisk splits its argument on ',' and each pair on '=', strips quotes and
// backslashes, and ignores a pair with an empty value (so empty values go by SET VARIABLE, which clears).
const MSET_VALUE = /^[A-Za-z0-9_+*#.-]+$/;
const MSET_NAME = /^[A-Z][A-Z0-9_]*$/;

/**
 * The fewest AGI round trips that write `vars` exactly (real Asterisk answers one command at a time):
 * values safe for MSet go in one `EXEC MSet`; anything else (the caller's name, empty values) by SET VARIABLE.
 */
export function planVariableWrites(vars: readonly (readonly [string, string])[], msetAvailable: boolean): VariableWrite[] {
  const writes: VariableWrite[] = [];
  const batch: [string, string][] = [];
  for (const [name, value] of vars) {
    if (msetAvailable && MSET_NAME.test(name) && MSET_VALUE.test(value)) batch.push([name, value]);
    else writes.push({ kind: 'set', name, value });
  }
  if (batch.length === 1) writes.push({ kind: 'set', name: batch[0]![0], value: batch[0]![1] });
  else if (batch.length > 1) writes.push({ kind: 'mset', pairs: batch });
  return writes;
}

export function msetArgument(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([n, v]) => `${n}=${v}`).join(',');
}

/** The responsible manager is on break or at dinner: route by default and say why. */
export function skipAwayManager(route: IncomingRoute, status: string): IncomingRoute {
  return { ...route, manager: '', managerMissing: 'away', managerStatus: status };
}

/** What /incoming sets when it cannot do better: the dialplan's default route. */
export const FAIL_OPEN_ROUTE = (lookup: LookupStatus): IncomingRoute => ({
  callerName: null,
  manager: '',
  customerId: '',
  lookup,
});
