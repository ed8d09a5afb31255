/**
 * Pure routing decisions for /incoming and /outgoing: from a lookup result and the enterprise's extension map to
 * the exact channel variables the dialplan reads. RCRM_MANAGER is only ever a validated extension code, so no
 * text from RetailCRM can reach a Dial() string.
 */
import { EXTENSION_CODE } from '../db/extension-store.js';
import type { LookupResult, LookupStatus } from './caller-lookup.js';

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
