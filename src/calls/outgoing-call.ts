/**
 * `/outgoing`: a manager dials out (caller = extension, agi_extension = the dialed number). The named steps:
 *   readCall → channelFacts (from the URL, else one round trip) → resolveEnterprise → normaliseDialed → lookupCaller → setCustomerVariables →
 *   notifyCrm (popup for the calling extension, call record)
 * Sets RCRM_CUSTOMER_ID, RCRM_LOOKUP and RCRM_OUTBOUND_CID; never delays the call beyond its budget.
 */
import { errorCode } from '../lib/errors.js';
import { EXTENSION_CODE } from '../db/extension-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { CallerLookup, LookupResult } from '../customers/caller-lookup.js';
import { readCall, resolveEnterprise, type CallContextDeps } from './call-context.js';
import type { AgiChannel } from './agi-channel.js';
import { channelFacts } from './channel-facts.js';
import type { EnterpriseDirectory } from './enterprise-directory.js';
import type { CallNotifier, RoutedCall } from './incoming-call.js';
import { normalisePhone } from '../domain/phone-number.js';
import { writeVariables } from './write-variables.js';

export interface OutgoingDeps extends CallContextDeps {
  readonly directory: EnterpriseDirectory;
  readonly lookup: CallerLookup;
  readonly notify?: CallNotifier;
}

/**
 * The number the customer sees on an outgoing call: the enterprise's external number for its site (`enterprise
 * set --external-phones SITE=NUMBER`), else its first one; only `+` and digits ever reach the dialplan.
 */
export function outboundNumberOf(enterprise: Enterprise): string {
  const phones = enterprise.settings.externalPhones;
  const number = (phones.find((p) => p.siteCode === enterprise.site) ?? phones[0])?.externalPhone ?? '';
  return /^\+?\d{3,20}$/.test(number) ? number : '';
}

export async function handleOutgoing(session: AgiChannel, deps: OutgoingDeps): Promise<void> {
  const ctx = readCall(session, deps);
  try {
    let status: LookupResult['status'] = 'ERROR';
    let customerId = '';
    let outboundCid = '';
    let call: RoutedCall | null = null;
    try {
      const facts = await channelFacts(session, { CRM_CALL_ID: 'crmcall' });
      const resolved = await resolveEnterprise(ctx, deps.directory, facts.enterpriseVar);
      if (resolved.ok) {
        outboundCid = outboundNumberOf(resolved.view.enterprise);
        const dialed = normalisePhone(session.env.extension, resolved.view.enterprise.country);
        if (dialed.kind === 'e164') {
          const lookup = await deps.lookup.lookup(resolved.view.enterprise, dialed.e164, { deadline: ctx.deadline });
          status = lookup.status;
          customerId = lookup.caller ? String(lookup.caller.customerId) : '';
          const extension = ctx.callerNumber;
          const crmCallId = facts.extra['CRM_CALL_ID'] ?? '';
          call = {
            direction: 'out',
            view: resolved.view,
            linkedid: facts.linkedid,
            phone: dialed.e164,
            externalPhone: outboundCid,
            ringCodes: EXTENSION_CODE.test(extension) ? [extension] : [],
            lookup,
            startedAt: new Date(ctx.startedAt),
            ...(crmCallId !== '' ? { crmCallId } : {}),
          };
        } else {
          status = 'NOT_FOUND';
        }
      }
    } catch (err) {
      ctx.log.error('outgoing lookup failed', { code: errorCode(err), err });
    }
    await writeVariables(session, [
      ['RCRM_CUSTOMER_ID', customerId],
      ['RCRM_LOOKUP', status],
      // Empty leaves the dialplan's [globals] RCRM_OUTBOUND_CID (or the trunk's default) in force.
      ...(outboundCid !== '' ? [['RCRM_OUTBOUND_CID', outboundCid] as const] : []),
    ]);
    ctx.log.info('outgoing call looked up', { lookup: status, customerId: customerId || undefined });
    if (call && deps.notify) deps.notify(ctx, call);
  } finally {
    ctx.done();
  }
}
