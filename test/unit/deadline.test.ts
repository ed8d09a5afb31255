import { expect } from 'chai';
import { DeadlineExpired, raceDeadline, waitAtMost, withTimeout } from '../../src/lib/deadline.js';

const never = (): Promise<never> => new Promise<never>(() => undefined);

describe('deadline', () => {
  it('waitAtMost gives the value of work that settles in time', async () => {
    // GIVEN resolved work WHEN waited for 1 s THEN settled with its value
    expect(await waitAtMost(Promise.resolve(7), 1_000)).to.deep.equal({ settled: true, value: 7 });
  });

  it('waitAtMost passes on the failure of work that fails in time', async () => {
    // GIVEN failing work WHEN waited for THEN its error rejects the wait
    const err = await waitAtMost(Promise.reject(new Error('boom')), 1_000).catch((e: unknown) => e);
    expect((err as Error).message).to.equal('boom');
  });

  it('waitAtMost stops waiting at the deadline', async () => {
    // GIVEN work that never settles WHEN waited for 5 ms THEN not settled
    expect(await waitAtMost(never(), 5)).to.deep.equal({ settled: false });
  });

  it('waitAtMost stops waiting when the signal aborts, already aborted included', async () => {
    // GIVEN an aborted signal WHEN waited for a long time THEN not settled at once
    expect(await waitAtMost(never(), 60_000, AbortSignal.abort())).to.deep.equal({ settled: false });
    const ctl = new AbortController();
    const waiting = waitAtMost(never(), 60_000, ctl.signal);
    ctl.abort();
    expect(await waiting).to.deep.equal({ settled: false });
  });

  it('withTimeout rejects with the caller\'s error at the deadline', async () => {
    // GIVEN work that never settles WHEN given 5 ms THEN the caller's error
    const err = await withTimeout(never(), 5, () => new RangeError('too slow')).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RangeError);
    expect(await withTimeout(Promise.resolve('ok'), 1_000, () => new Error('x'))).to.equal('ok');
  });

  it('raceDeadline rejects with DeadlineExpired when the deadline is past or reached', async () => {
    // GIVEN a past deadline, then a near one WHEN raced THEN DeadlineExpired both times; failing late work stays handled
    const late = Promise.reject(new Error('late'));
    expect(await raceDeadline(late, 0).catch((e: unknown) => e)).to.be.instanceOf(DeadlineExpired);
    expect(await raceDeadline(never(), Date.now() + 5).catch((e: unknown) => e)).to.be.instanceOf(DeadlineExpired);
    expect(await raceDeadline(Promise.resolve(1), Date.now() + 1_000)).to.equal(1);
  });
});
