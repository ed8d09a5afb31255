/**
 * Click-to-call, the use case behind RetailCRM's makeCallUrl:
 *   checkRawPhone → resolveManager (code or userId → extension) → normalisePhone → open the audit row →
 *   placeCall in the background (customer name for the manager's display, AMI connection, Originate that rings
 *   the manager first) → answer within a short window: an early failure (manager busy, PBX down, login refused)
 *   is reported, otherwise "started" → the final OriginateResponse is written to the audit row when it arrives.
 * The background part is tracked (drain() at shutdown) and never rejects: it records its own outcome.
 */
import { AmiOriginateError } from '../ami/client-options.js';
import { AmiActionError, AmiAuthError, AmiConnectionError, AmiTimeoutError, errorCode, errorMessage, InputError } from '../lib/errors.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { ExtensionStore } from '../db/extension-store.js';
import type { CallerLookup } from '../customers/caller-lookup.js';
import { normalisePhone } from '../domain/phone-number.js';
import { maskPhone, type Logger } from '../lib/logger.js';
import { TaskTracker } from '../lib/task-tracker.js';
import { waitAtMost } from '../lib/deadline.js';
import type { AmiPool } from './ami-pool.js';
import type { ClickToCallAudit, ClickToCallOutcome } from './audit-store.js';
import { buildOriginate, checkRawPhone } from './dial-string.js';

export interface ClickToCallRequest {
  readonly code?: string | undefined;
  readonly userId?: string | undefined;
  readonly phone?: string | undefined;
  readonly externalPhone?: string | undefined;
}

export type ClickToCallAnswer =
  | { readonly status: 'started'; readonly callId: string }
  | { readonly status: 'failed'; readonly callId: string; readonly outcome: ClickToCallOutcome; readonly reason: string };

export interface ClickToCallDeps {
  readonly audit: ClickToCallAudit;
  readonly extensions: Pick<ExtensionStore, 'list'>;
  readonly pbx: Pick<AmiPool, 'connected'>;
  /** Names the customer on the manager's phone; without it the number is shown. */
  readonly lookup?: Pick<CallerLookup, 'lookup'>;
  readonly logger: Logger;
  /** How long the HTTP answer waits for an early failure. Default 1500 ms. */
  readonly earlyAnswerMs?: number;
  /** Budget of the customer-name lookup before ringing the manager. Default 400 ms. */
  readonly nameBudgetMs?: number;
}

interface Outcome {
  readonly outcome: ClickToCallOutcome;
  readonly reason?: string;
  readonly linkedid?: string;
}

const STARTED_OUTCOMES: ReadonlySet<ClickToCallOutcome> = new Set(['requested', 'started', 'answered']);

/** Error (or OriginateResponse failure) → what the audit row and RetailCRM are told. */
export function outcomeOf(err: unknown): Outcome {
  if (err instanceof AmiOriginateError) {
    if (err.reason === 5) return { outcome: 'busy', reason: "the manager's phone is busy" };
    if (err.reason === 3) return { outcome: 'no_answer', reason: 'the manager did not answer' };
    return { outcome: 'failed', reason: `the PBX could not ring the manager (${err.reasonName})` };
  }
  if (err instanceof AmiAuthError) return { outcome: 'pbx_auth_failed', reason: 'the PBX refused the AMI login' };
  if (err instanceof AmiConnectionError) return { outcome: 'pbx_unreachable', reason: `the PBX is unreachable: ${err.message}` };
  if (err instanceof AmiTimeoutError) return { outcome: 'pbx_timeout', reason: 'the PBX did not answer in time' };
  if (err instanceof AmiActionError) return { outcome: 'failed', reason: `the PBX refused the call: ${err.response['Message'] ?? err.message}` };
  return { outcome: 'failed', reason: `${errorCode(err)}: ${errorMessage(err)}` };
}

export class ClickToCall {
  private readonly tasks: TaskTracker;
  private readonly shutdown = new AbortController();

  constructor(private readonly deps: ClickToCallDeps) {
    this.tasks = new TaskTracker((err) => deps.logger.error('click-to-call task failed', { code: errorCode(err), err }));
  }

  /** Calls in the background (waiting for their OriginateResponse). */
  get pending(): number {
    return this.tasks.size;
  }

  /** Validates, audits and starts the call. InputError (→ 400) for a bad phone, code or userId. */
  async start(enterprise: Enterprise, req: ClickToCallRequest): Promise<ClickToCallAnswer> {
    const raw = checkRawPhone(req.phone);
    const manager = await this.resolveManager(enterprise.number, req);
    const phone = normalisePhone(raw, enterprise.country);
    if (phone.kind !== 'e164') {
      throw new InputError(`phone ${JSON.stringify(raw)} is not a dialable number (${phone.reason})`, 'phone');
    }
    const audit = await this.deps.audit.open({ enterprise: enterprise.number, userId: manager.userId, ext: manager.ext, phone: phone.e164 });
    const callId = audit.crmCallId ?? String(audit.id);
    const log = this.deps.logger.child({ enterprise: enterprise.number, c2c: callId, ext: manager.ext });
    log.info('click-to-call requested', { phone: maskPhone(phone.e164), userId: manager.userId });

    const placed = this.placeCall(enterprise, audit.id, callId, manager.ext, phone.e164, log);
    this.tasks.track(placed);
    const waited = await waitAtMost(placed, this.deps.earlyAnswerMs ?? 1_500);
    if (!waited.settled || STARTED_OUTCOMES.has(waited.value.outcome)) return { status: 'started', callId };
    const early = waited.value;
    return { status: 'failed', callId, outcome: early.outcome, reason: early.reason ?? early.outcome };
  }

  /** `code` wins when given (it must be one of the enterprise's extensions); otherwise `userId` must be mapped. */
  private async resolveManager(enterprise: string, req: ClickToCallRequest): Promise<{ ext: string; userId: number | null }> {
    const code = req.code?.trim() ?? '';
    const userIdText = req.userId?.trim() ?? '';
    if (code === '' && userIdText === '') throw new InputError('code or userId is required', 'code');
    const mapping = await this.deps.extensions.list(enterprise);
    if (code !== '') {
      const hit = mapping.find((m) => m.ext === code);
      if (!hit) throw new InputError('code is not an extension of this enterprise', 'code');
      return { ext: hit.ext, userId: hit.userId };
    }
    if (!/^\d{1,9}$/.test(userIdText)) throw new InputError('userId must be a RetailCRM user id', 'userId');
    const hit = mapping.find((m) => m.userId === Number(userIdText));
    if (!hit) throw new InputError('userId has no extension in this enterprise (retailcrm-agi users sync)', 'userId');
    return { ext: hit.ext, userId: hit.userId };
  }

  private async placeCall(
    enterprise: Enterprise,
    auditId: number,
    callId: string,
    ext: string,
    phone: string,
    log: Logger,
  ): Promise<Outcome> {
    let result: Outcome;
    try {
      const customerName = await this.customerName(enterprise, phone);
      const handle = await this.deps.pbx.connected(enterprise.number);
      if (!handle) {
        result = { outcome: 'not_configured', reason: 'click-to-call is not set up for this enterprise (retailcrm-agi pbx set)' };
      } else {
        const fields = buildOriginate(handle.settings, { enterprise: enterprise.number, ext, customer: phone, customerName, crmCallId: callId });
        await this.deps.audit.record(auditId, 'started');
        const event = await handle.client.originate({ ...fields, signal: this.shutdown.signal });
        result = { outcome: 'answered', ...(event.uniqueid === undefined ? {} : { linkedid: event.uniqueid }) };
      }
    } catch (err) {
      result = outcomeOf(err);
    }
    if (result.outcome === 'answered') log.info('click-to-call: manager answered, dialling the customer', { linkedid: result.linkedid });
    else log.warn('click-to-call failed', { outcome: result.outcome, reason: result.reason });
    try {
      await this.deps.audit.record(auditId, result.outcome, {
        ...(result.reason === undefined ? {} : { reason: result.reason }),
        ...(result.linkedid === undefined ? {} : { linkedid: result.linkedid }),
      });
    } catch (err) {
      log.error('cannot record the click-to-call outcome', { code: errorCode(err), err });
    }
    return result;
  }

  private async customerName(enterprise: Enterprise, phone: string): Promise<string> {
    if (!this.deps.lookup) return '';
    try {
      const found = await this.deps.lookup.lookup(enterprise, phone, {
        deadline: Date.now() + (this.deps.nameBudgetMs ?? 400),
        signal: this.shutdown.signal,
      });
      return found.caller?.name ?? '';
    } catch {
      return '';
    }
  }

  /** Shutdown: stops waiting for OriginateResponses (the calls go on in the PBX) and waits for the audit writes. */
  async close(): Promise<void> {
    this.shutdown.abort();
    await this.tasks.drain();
  }

  /** Waits for background work without cancelling it (tests). */
  async drain(): Promise<void> {
    await this.tasks.drain();
  }
}
