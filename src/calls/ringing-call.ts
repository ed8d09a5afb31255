/**
 * `/ringing`: a call already announced by /incoming now rings other extensions — the queue after the responsible
 * manager did not answer, or the target of a transfer. The named steps:
 *   readCall → channelFacts (from the URL, else one round trip) → resolveEnterprise → newCodes → recordRinging (popups for the new extensions,
 *   added to the call's codes so the hangup event closes them too)
 * It sets nothing and answers at once: the popup is delivered off the call path. The extensions come from the
 * `codes` query parameter (`/ringing?enterprise=0367&codes=102`) or RCRM_RING_CODES (`IAX2/101/101,PJSIP/102`).
 */
import { errorCode } from '../lib/errors.js';
import { EXTENSION_CODE } from '../db/extension-store.js';
import type { AgiChannel } from './agi-channel.js';
import type { CallJournal } from './call-journal.js';
import { readCall, resolveEnterprise, type CallContextDeps } from './call-context.js';
import { parseRingCodes } from './call-result.js';
import { channelFacts } from './channel-facts.js';
import type { EnterpriseDirectory } from './enterprise-directory.js';
import { MAX_POPUP_CODES } from './incoming-call.js';
import type { TaskTracker } from '../lib/task-tracker.js';

export interface RingingDeps extends CallContextDeps {
  readonly directory: EnterpriseDirectory;
  readonly journal: CallJournal;
  /** Delivers a committed popup job at once (the outbox worker's deliverNow). */
  readonly deliverNow: (jobId: number) => Promise<unknown>;
  readonly tasks: TaskTracker;
}

/** How long /ringing waits for the call's start to be recorded (it is, off the call path, within milliseconds). */
const START_WAIT_MS = 3_000;
const START_POLL_MS = 50;

/** recordRinging, waiting (bounded) for /incoming's start record, which may be on another instance. */
async function recordWhenStarted(deps: RingingDeps, enterprise: string, linkedid: string, codes: readonly string[]): Promise<number | null | 'unknown'> {
  const until = Date.now() + START_WAIT_MS;
  for (;;) {
    const result = await deps.journal.recordRinging(enterprise, linkedid, codes);
    if (result !== 'unknown' || Date.now() >= until) return result;
    await new Promise((resolve) => setTimeout(resolve, START_POLL_MS));
  }
}

export async function handleRinging(session: AgiChannel, deps: RingingDeps): Promise<void> {
  const ctx = readCall(session, deps);
  try {
    // The codes in the URL (a transfer target), or RCRM_RING_CODES (in the URL too from the shipped dialplan).
    const facts = await channelFacts(session, session.query.has('codes') ? {} : { RCRM_RING_CODES: 'ring' });
    const resolved = await resolveEnterprise(ctx, deps.directory, facts.enterpriseVar);
    if (!resolved.ok || !resolved.view.enterprise.settings.telephonyEvents) return;
    const raw = session.query.get('codes') ?? facts.extra['RCRM_RING_CODES'];
    const codes = parseRingCodes(raw ?? '', (c) => EXTENSION_CODE.test(c)).slice(0, MAX_POPUP_CODES);
    if (codes.length === 0) return;
    const enterprise = resolved.view.enterprise.number;
    // Off the call path: the dialplan goes on ringing while the popup is recorded and sent.
    deps.tasks.track(
      recordWhenStarted(deps, enterprise, facts.linkedid, codes)
        .then(async (jobId) => {
          ctx.log.info('call rings more extensions', { codes, popup: typeof jobId === 'number' });
          if (typeof jobId === 'number') await deps.deliverNow(jobId);
        })
        .catch((err: unknown) => ctx.log.error('cannot record who the call rings', { code: errorCode(err), err })),
    );
  } catch (err) {
    ctx.log.warn('ringing update failed', { code: errorCode(err) });
  } finally {
    ctx.done();
  }
}
