/**
 * `/outgoing`: a manager dials out (caller = extension, agi_extension = the dialed number). The named steps:
 *   readCall → resolveEnterprise → normaliseDialed → lookupCaller → setCustomerVariables
 * Sets RCRM_CUSTOMER_ID and RCRM_LOOKUP; never delays the call beyond its budget.
 */
import { errorCode } from '../errors.js';
import type { CallerLookup, LookupResult } from './caller-lookup.js';
import { readCall, resolveEnterprise, type CallContext, type CallContextDeps } from './call-context.js';
import type { AgiChannel } from './agi-channel.js';
import type { EnterpriseDirectory } from './enterprise-directory.js';
import { normalisePhone } from './phone-number.js';

export interface OutgoingDeps extends CallContextDeps {
  readonly directory: EnterpriseDirectory;
  readonly lookup: CallerLookup;
  readonly afterLookup?: (ctx: CallContext, result: LookupResult, extra: { enterprise: string; phone: string; extension: string }) => void;
}

export async function handleOutgoing(session: AgiChannel, deps: OutgoingDeps): Promise<void> {
  const ctx = readCall(session, deps);
  try {
    let status: LookupResult['status'] = 'ERROR';
    let customerId = '';
    try {
      const resolved = await resolveEnterprise(ctx, deps.directory);
      if (resolved.ok) {
        const dialed = normalisePhone(session.env.extension, resolved.view.enterprise.country);
        if (dialed.kind === 'e164') {
          const result = await deps.lookup.lookup(resolved.view.enterprise, dialed.e164, { deadline: ctx.deadline });
          status = result.status;
          customerId = result.caller ? String(result.caller.customerId) : '';
          deps.afterLookup?.(ctx, result, {
            enterprise: resolved.view.enterprise.number,
            phone: dialed.e164,
            extension: ctx.callerNumber,
          });
        } else {
          status = 'NOT_FOUND';
        }
      }
    } catch (err) {
      ctx.log.error('outgoing lookup failed', { code: errorCode(err), err });
    }
    await session.setVariable('RCRM_CUSTOMER_ID', customerId);
    await session.setVariable('RCRM_LOOKUP', status);
    ctx.log.info('outgoing call looked up', { lookup: status, customerId: customerId || undefined });
  } finally {
    ctx.done();
  }
}
