/**
 * The durable record of every call: the `calls` row and, in the same transaction, the outbox jobs that carry it
 * to RetailCRM (popup events, the hangup event, the history upload, customer creation). After commit, a popup is
 * handed straight to the outbox for in-process delivery, so it does not wait for a worker to wake up.
 * The `calls` SQL lives in call-store.ts; the outbox's in the outbox.
 */
import type { CallEvent, CustomerCreate, UploadCall } from '../crm/types.js';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.js';
import { callEventOf } from './call-event.js';
import { registerRecording } from '../recordings/recording-store.js';
import { addRingCodes, callStartsSource, findCall, insertCallStart, isCallEnded, lockCallForRinging, recordCallEnd } from './call-store.js';
import { dropPendingJobs, enqueueClaimedJob, enqueueClaimedJobsAfter, enqueueJob, notifyOutbox, outboxJobKey, type ClaimedBatch, type NewJob } from '../outbox/enqueue.js';
import { expirePendingJobs, jobStateByKey } from '../outbox/outbox-store.js';
import { recordCallForCallbacks, type CallbackEffect } from '../work/callback-tasks.js';
import { GroupCommit } from '../lib/group-commit.js';

export interface CallStart {
  readonly enterprise: string;
  readonly linkedid: string;
  readonly direction: 'in' | 'out';
  readonly phone: string;
  readonly externalPhone: string | null;
  readonly site: string | null;
  readonly customerId: number | null;
  readonly ringCodes: readonly string[];
  readonly startedAt: Date;
}

export interface CallEnd {
  readonly enterprise: string;
  readonly linkedid: string;
  readonly direction: 'in' | 'out';
  readonly phone: string;
  readonly externalPhone: string | null;
  readonly site: string | null;
  readonly startedAt: Date;
  readonly endedAt: Date;
  readonly answered: boolean;
  readonly result: UploadCall['result'];
  readonly hangupStatus: NonNullable<CallEvent['hangupStatus']>;
  readonly managerCode: string | null;
  readonly managerUserId: number | null;
  readonly ringCodes: readonly string[];
  readonly durationSec: number;
  readonly waitingSec: number;
  readonly recordingFile: string | null;
  /**
   * PUBLIC_URL of the instance whose RECORDINGS_DIR holds recordingFile (/hangup runs on the PBX's own host):
   * the recording gets a `recordings` row there and its link points at that host (docs/recordings.md).
   */
  readonly recordingHost?: string | null;
  readonly dialStatus: string | null;
  readonly upload: UploadCall;
  readonly hangupEvent: CallEvent;
  /** False when the enterprise sends no telephony events: the call is recorded here only. */
  readonly deliverToCrm: boolean;
  /** Recorded from Asterisk's CDRs by the reconciler (src/reconcile/), not by /hangup. */
  readonly reconciled?: boolean;
  /** The enterprise makes call-back tasks of missed calls (src/work/); absent: off. */
  readonly callbackTasks?: boolean;
}

export interface StoredCall {
  readonly direction: 'in' | 'out';
  readonly phone: string;
  readonly externalPhone: string | null;
  readonly site: string | null;
  readonly customerId: number | null;
  readonly ringCodes: string[];
  readonly startedAt: Date;
  readonly endedAt: Date | null;
}

/** Popups are useless once the call is over; this is a safety net, /hangup drops them at once. */
const POPUP_TTL_MS = 120_000;
/** MixMonitor closes the file only after /hangup returns: upload a little later. */
const UPLOAD_DELAY_MS = 1_500;

export const popupKey = (enterprise: string, linkedid: string, type: 'in' | 'out' | 'hangup'): string =>
  outboxJobKey('call_event', enterprise, linkedid, type);

/** A ringing call and its popup job, claimed by a delivery slot's token. */
interface ClaimedStart {
  readonly call: CallStart;
  readonly job: NewJob;
  readonly token: string;
}

/** Most call starts in one statement (the notifier runs at most 32 at once by default). */
const MAX_STARTS_PER_STATEMENT = 200;

export class CallJournal {
  /** Call starts of concurrent calls go to the database together: one statement and one commit per batch. */
  private readonly starts: GroupCommit<ClaimedStart, ClaimedBatch | null>;

  constructor(private readonly pool: Pool) {
    this.starts = new GroupCommit((items) => this.insertStartsClaimed(items), { maxBatch: MAX_STARTS_PER_STATEMENT });
  }

  /** Records a ringing call and its popup; returns the popup job id to deliver now (null if already known). */
  async recordStart(call: CallStart, popup: CallEvent | null): Promise<number | null> {
    return inTransaction(this.pool, (db) => this.insertStart(db, call, popup, (job) => enqueueJob(db, job)));
  }

  /**
   * Like recordStart, but the popup job is inserted already claimed by `claimToken` (an outbox delivery slot's), so
   * it can be sent the moment this write commits, with no claiming transaction in between. Resolves with the
   * claimed job, or null (no popup: already known, or the call is over).
   */
  async recordStartClaimed(call: CallStart, popup: CallEvent, claimToken: string): Promise<ClaimedBatch | null> {
    // A new call (the usual case): the call row and its claimed popup job in one statement, shared with the calls
    // starting at the same moment (group commit). The job goes in only when the row was inserted there, i.e. no
    // /hangup recorded the call before.
    const start: ClaimedStart = { call, job: this.popupJob(call, popup), token: claimToken };
    let fast: ClaimedBatch | null;
    try {
      fast = await this.starts.submit(start);
    } catch {
      // The shared statement failed: once more alone, so one bad call cannot lose the others' popups (and a
      // failure that is this call's own is thrown from here, with its cause).
      [fast = null] = await this.insertStartsClaimed([start]);
    }
    if (fast !== null) return fast;
    // The row was there already (or the popup job was): the careful path decides whether the call is over.
    return inTransaction(this.pool, (db) => this.insertStart(db, call, popup, (j) => enqueueClaimedJob(db, j, claimToken)));
  }

  private async insertStartsClaimed(items: readonly ClaimedStart[]): Promise<(ClaimedBatch | null)[]> {
    const claimed = await enqueueClaimedJobsAfter(
      this.pool,
      callStartsSource(items.map((i) => i.call)),
      items.map((i, n) => ({ n, job: i.job, token: i.token })),
    );
    return items.map((i) => claimed.get(i.token) ?? null);
  }

  private popupJob(call: CallStart, popup: CallEvent): NewJob {
    return {
      enterprise: call.enterprise,
      kind: 'call_event',
      jobKey: popupKey(call.enterprise, call.linkedid, call.direction),
      payload: { event: popup },
      expiresAt: new Date(call.startedAt.getTime() + POPUP_TTL_MS),
    };
  }

  private async insertStart<T>(db: PoolClient, call: CallStart, popup: CallEvent | null, insertJob: (job: NewJob) => Promise<T | null>): Promise<T | null> {
    await insertCallStart(db, call);
    if (!popup) return null;
    // /hangup may have come first (the caller hung up at once): a popup for a call that is over is never sent.
    // Either order is safe: the unique (enterprise, linkedid) makes the later transaction see the earlier one.
    if (await isCallEnded(db, call.enterprise, call.linkedid)) return null;
    return insertJob(this.popupJob(call, popup));
  }

  /**
   * The call now rings `codes` too (queue fallback, transfer): the ones not yet notified are added to the call's
   * codes and get an `in` popup, in one transaction. Returns the popup job to deliver now, or null (call unknown
   * over, or nobody new); 'unknown' when the call's start is not recorded (yet: /incoming records it off the
   * call path, and a busy manager sends the call on within milliseconds).
   */
  async recordRinging(enterprise: string, linkedid: string, codes: readonly string[]): Promise<number | null | 'unknown'> {
    return inTransaction(this.pool, async (db) => {
      const call = await lockCallForRinging(db, enterprise, linkedid);
      if (!call) return 'unknown';
      if (call.ended) return null;
      const fresh = codes.filter((c) => !call.ringCodes.includes(c));
      if (fresh.length === 0) return null;
      await addRingCodes(db, enterprise, linkedid, fresh);
      const popup = callEventOf('in', { phone: call.phone, linkedid, codes: fresh, externalPhone: call.externalPhone, site: call.site });
      return enqueueJob(db, {
        enterprise,
        kind: 'call_event',
        jobKey: outboxJobKey('call_event', enterprise, linkedid, `in+${fresh.join('+')}`),
        payload: { event: popup },
        expiresAt: new Date(Date.now() + POPUP_TTL_MS),
      });
    });
  }

  async find(enterprise: string, linkedid: string): Promise<StoredCall | null> {
    return findCall(this.pool, enterprise, linkedid);
  }

  /**
   * Records the end of a call: the call row, the hangup event (only if the popup reached RetailCRM; a popup not
   * yet delivered is dropped instead), and the history upload. A second /hangup for the same call (h-extension
   * and hangup handler both configured) changes nothing: the job keys deduplicate.
   */
  async recordEnd(end: CallEnd): Promise<{ recorded: boolean; uploadJobId: number | null; hangupJobId: number | null; callback?: CallbackEffect }> {
    return inTransaction(this.pool, async (db) => {
      const recorded = await recordCallEnd(db, end);
      // Call-back tasks do not depend on telephony events: a missed call is one whoever shows the popups.
      const callback = recorded ? await recordCallForCallbacks(db, { ...end, callbackTasks: end.callbackTasks === true }) : null;
      const recordingHost = end.recordingFile ? (end.recordingHost ?? null) : null;
      if (recorded && end.recordingFile && recordingHost !== null) {
        await registerRecording(db, { enterprise: end.enterprise, linkedid: end.linkedid, hostUrl: recordingHost, wavFile: end.recordingFile });
      }
      if (!recorded || !end.deliverToCrm) return { recorded, uploadJobId: null, hangupJobId: null, callback };
      const hangupJobId = await this.hangupEvent(db, end);
      const uploadJobId = await enqueueJob(db, {
        enterprise: end.enterprise,
        kind: 'call_upload',
        jobKey: outboxJobKey('call_upload', end.enterprise, end.linkedid),
        payload: {
          call: end.upload,
          recordingFile: end.recordingFile,
          ...(recordingHost !== null ? { recordingHost } : {}),
          callEndedAt: end.endedAt.toISOString(),
        },
        runAt: new Date(end.endedAt.getTime() + (end.recordingFile ? UPLOAD_DELAY_MS : 0)),
      });
      await notifyOutbox(db, end.enterprise);
      return { recorded, uploadJobId, hangupJobId, callback };
    });
  }

  private async hangupEvent(db: PoolClient, end: CallEnd): Promise<number | null> {
    const key = popupKey(end.enterprise, end.linkedid, end.direction);
    await dropPendingJobs(db, {
      enterprise: end.enterprise,
      kind: 'call_event',
      callId: end.linkedid,
      reason: 'the call ended before the popup was delivered',
    });
    // A popup being delivered right now was not dropped: make sure a failed attempt is not retried later.
    await expirePendingJobs(db, [popupKey(end.enterprise, end.linkedid, 'in'), popupKey(end.enterprise, end.linkedid, 'out')]);
    const popup = await jobStateByKey(db, key);
    // Close the popup only where one was shown (or is being delivered right now).
    if (!popup || !(popup.state === 'done' || (popup.state === 'pending' && popup.locked))) return null;
    return enqueueJob(db, {
      enterprise: end.enterprise,
      kind: 'call_event',
      jobKey: popupKey(end.enterprise, end.linkedid, 'hangup'),
      payload: { event: end.hangupEvent, closesJobKey: key },
      expiresAt: new Date(end.endedAt.getTime() + POPUP_TTL_MS),
    });
  }

  /** One customer creation per number and day, however many calls come in at once. */
  async requestCustomer(enterprise: string, phone: string, site: string | null, customer: CustomerCreate): Promise<number | null> {
    const day = new Date().toISOString().slice(0, 10);
    const id = await enqueueJob(this.pool, {
      enterprise,
      kind: 'customer_create',
      jobKey: outboxJobKey('customer_create', enterprise, phone, day),
      payload: { phone, ...(site ? { site } : {}), customer },
    });
    if (id !== null) await notifyOutbox(this.pool, enterprise);
    return id;
  }
}
