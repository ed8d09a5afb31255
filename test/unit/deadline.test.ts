import { expect } from 'chai';
import { DeadlineExpired, deadlineSignal, raceDeadline, waitAtMost, withTimeout } from '../../src/lib/deadline.js';
import FakeTimers from '@sinonjs/fake-timers';

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

describe('deadlineSignal', () => {
  // GIVEN a deadline of 50 ms WHEN it passes THEN the signal aborts with a TimeoutError, like AbortSignal.timeout's
  it('aborts at the deadline with a TimeoutError', () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const d = deadlineSignal(50);
      clock.tick(49);
      expect(d.signal.aborted).to.equal(false);
      clock.tick(1);
      expect(d.signal.aborted).to.equal(true);
      expect((d.signal.reason as DOMException).name).to.equal('TimeoutError');
    } finally {
      clock.uninstall();
    }
  });

  // GIVEN a parent signal WHEN the parent aborts THEN the signal aborts with the parent's reason
  it('follows its parent', () => {
    const parent = new AbortController();
    const d = deadlineSignal(60_000, parent.signal);
    parent.abort(new Error('stopping'));
    expect((d.signal.reason as Error).message).to.equal('stopping');
    d.dispose();
  });

  // GIVEN work that finished WHEN disposed THEN no timer is left and the parent no longer holds a listener: the
  // deadline never fires later, and the parent aborting later does not reach it
  it('leaves nothing behind once disposed', () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const parent = new AbortController();
      const d = deadlineSignal(50, parent.signal);
      expect(clock.countTimers()).to.equal(1);
      d.dispose();
      expect(clock.countTimers()).to.equal(0);
      parent.abort();
      clock.tick(100);
      expect(d.signal.aborted).to.equal(false);
    } finally {
      clock.uninstall();
    }
  });

  // GIVEN a caller that gave up WHEN it aborts THEN the work's signal aborts with the caller's reason, timer cleared
  it('can be aborted by the caller', () => {
    const d = deadlineSignal(60_000);
    d.abort(new Error('gave up'));
    expect((d.signal.reason as Error).message).to.equal('gave up');
  });
});
