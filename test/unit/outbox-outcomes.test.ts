/** planOutcomes: a batch's results sorted into one group per outcome, with the backoff of each retry (pure). */
import { expect } from 'chai';
import { CrmHttpError, CrmRateLimitedError } from '../../src/lib/errors.js';
import type { Job, JobResult } from '../../src/outbox/job-types.js';
import { planOutcomes } from '../../src/outbox/outcome-recorder.js';

function job(id: number, attempts = 0): Job {
  const at = new Date(0);
  return {
    id, enterprise: '0367', kind: 'call_event', jobKey: null, payload: {}, state: 'pending', attempts,
    deferrals: 0, runAt: at, expiresAt: null, lastError: null, createdAt: at,
  };
}

describe('outbox outcome plan', () => {
  // GIVEN one result of each kind WHEN planned THEN each job lands in its group with its reason or delay
  it('sorts results by outcome', () => {
    const results: JobResult[] = [
      { kind: 'done' },
      { kind: 'retry', error: new CrmHttpError(500, 'boom', undefined, true), delayMs: 70 },
      { kind: 'failed', reason: 'bad key' },
      { kind: 'dropped', reason: 'expired' },
      { kind: 'later', delayMs: -5, reason: 'recording open' },
      { kind: 'released' },
    ];
    const plan = planOutcomes([1, 2, 3, 4, 5, 6].map((i) => job(i)), results, {});
    expect(plan.done).to.deep.equal([1]);
    expect(plan.retry).to.deep.equal({ ids: [2], delays: [70], errors: ['RetailCRM answered 500: boom'] });
    expect(plan.failed).to.deep.equal({ ids: [3], reasons: ['bad key'] });
    expect(plan.dropped).to.deep.equal({ ids: [4], reasons: ['expired'] });
    expect(plan.later).to.deep.equal({ ids: [5], delays: [0], reasons: ['recording open'] });
    expect(plan.released).to.deep.equal([6]);
    expect(plan.rateLimitMs).to.equal(undefined);
  });

  // GIVEN fewer results than jobs WHEN planned THEN the job without one is retried within the backoff cap
  it('retries a job the handler gave no result for', () => {
    const plan = planOutcomes([job(1), job(2, 3)], [{ kind: 'done' }], { retryBaseMs: 10, retryCapMs: 40 });
    expect(plan.retry.ids).to.deep.equal([2]);
    expect(plan.retry.errors).to.deep.equal(['no result']);
    expect(plan.retry.delays[0]).to.be.within(0, 40);
  });

  // GIVEN two jobs rate limited with different Retry-After WHEN planned THEN the enterprise waits for the longer
  it('holds the enterprise back for the longest rate limit', () => {
    const limited = (ms: number): JobResult => ({ kind: 'retry', error: new CrmRateLimitedError(503, ms), delayMs: ms });
    const plan = planOutcomes([job(1), job(2)], [limited(1_000), limited(3_000)], {});
    expect(plan.rateLimitMs).to.equal(3_000);
  });

  // GIVEN a very long reason WHEN planned THEN it is cut to 2000 characters
  it('cuts long reasons', () => {
    const plan = planOutcomes([job(1)], [{ kind: 'failed', reason: 'x'.repeat(5_000) }], {});
    expect(plan.failed.reasons[0]).to.have.length(2_000);
  });
});
