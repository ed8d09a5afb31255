/**
 * Running one claimed batch through its kind's handler under the batch deadline. The handler gets a signal that
 * fires at the deadline or at a forced shutdown; the wait itself stops at either even if the handler ignores it.
 * Whatever goes wrong (no handler, a rejection, a wrong number of results, the deadline) becomes `retry` for every
 * job; after a forced shutdown, retries become `released` (not tried, no attempt).
 */
import { DeadlineExpired, deadlineSignal, raceDeadline } from '../lib/deadline.js';
import type { JobHandler, JobResult } from './job-types.js';
import type { ClaimedBatch } from './outbox-store.js';

export async function runBatch(
  handler: JobHandler | undefined,
  batch: ClaimedBatch,
  opts: { readonly timeoutMs: number; readonly shutdown: AbortSignal },
): Promise<JobResult[]> {
  let results: JobResult[];
  const deadline = deadlineSignal(opts.timeoutMs, opts.shutdown);
  try {
    if (!handler) throw new Error(`no handler for kind ${batch.kind}`);
    const work = handler.handle(batch.enterprise, batch.jobs, deadline.signal);
    results = await raceDeadline(work, Date.now() + opts.timeoutMs, { signal: opts.shutdown });
    if (results.length !== batch.jobs.length) {
      throw new Error(`handler ${batch.kind} answered ${results.length} results for ${batch.jobs.length} jobs`);
    }
  } catch (err) {
    const error = err instanceof DeadlineExpired
      ? new Error(opts.shutdown.aborted ? 'outbox worker stopping' : `outbox batch ${batch.kind} exceeded ${opts.timeoutMs} ms`)
      : err;
    // The wait is over: a handler still running is told to stop (its signal aborts), whichever timer fired first.
    if (err instanceof DeadlineExpired) deadline.abort(error);
    results = batch.jobs.map(() => ({ kind: 'retry', error }));
  } finally {
    deadline.dispose();
  }
  if (opts.shutdown.aborted) results = results.map((r) => (r.kind === 'retry' ? { kind: 'released' } : r));
  return results;
}
