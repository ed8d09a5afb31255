/** Unit: per-account token buckets and in-flight bound for RetailCRM, on a fake clock (no sleeps). */
import FakeTimers from '@sinonjs/fake-timers';
import { expect } from 'chai';
import { CrmOverloadedError, CrmTimeoutError } from '../../src/lib/errors.js';
import { RateLimiter, rateClassForPath, type LimiterClock, type Release } from '../../src/crm/rate-limiter.js';

type Clock = ReturnType<typeof FakeTimers.createClock>;

function limiterClock(clock: Clock): LimiterClock {
  return {
    now: () => clock.now,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (h) => clock.clearTimeout(h as Parameters<Clock['clearTimeout']>[0]),
  };
}

/** Tracks a promise's outcome without awaiting it, so tests can check "still pending" after ticking. */
function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown; settled: Promise<void> } {
  const t: { done: boolean; value?: T; error?: unknown; settled: Promise<void> } = { done: false, settled: Promise.resolve() };
  t.settled = p.then(
    (v) => {
      t.done = true;
      t.value = v;
    },
    (e: unknown) => {
      t.done = true;
      t.error = e;
    },
  );
  return t;
}

describe('crm rate limiter', () => {
  let clock: Clock;
  let limiter: RateLimiter;

  beforeEach(() => {
    clock = FakeTimers.createClock(1_000_000);
  });

  afterEach(() => {
    limiter.close();
    expect(clock.countTimers()).to.equal(0);
  });

  function make(opts: ConstructorParameters<typeof RateLimiter>[0] = {}): RateLimiter {
    limiter = new RateLimiter({ clock: limiterClock(clock), ...opts });
    return limiter;
  }

  it('classifies paths: /telephony/ is telephony, the rest general', () => {
    // GIVEN API paths WHEN classified THEN telephony only for /telephony/
    make();
    expect(rateClassForPath('/v5/telephony/manager')).to.equal('telephony');
    expect(rateClassForPath('/api/v5/telephony/calls/upload')).to.equal('telephony');
    expect(rateClassForPath('/v5/customers')).to.equal('general');
    expect(rateClassForPath('/credentials')).to.equal('general');
  });

  it('admits a burst up to the rate at once, then one per 1/rate', async () => {
    // GIVEN general 10/s, burst 10 WHEN 11 requests come at once THEN 10 pass immediately, the 11th after 100 ms
    make({ ratesPerSecond: { general: 10 }, burst: { general: 10 } });
    const releases: Release[] = [];
    for (let i = 0; i < 10; i++) releases.push(await limiter.acquire('acc', 'general'));
    const eleventh = track(limiter.acquire('acc', 'general'));
    await clock.tickAsync(99);
    expect(eleventh.done).to.equal(false);
    await clock.tickAsync(1);
    expect(eleventh.done).to.equal(true);
    expect(eleventh.value).to.be.a('function');
    releases.forEach((r) => r());
    eleventh.value?.();
  });

  it('keeps telephony (40/s) and general (10/s) buckets apart', async () => {
    // GIVEN an exhausted general bucket WHEN a telephony request comes THEN it passes at once
    make({ maxInFlightPerAccount: 100, burst: { general: 10, telephony: 40 } });
    const releases: Release[] = [];
    for (let i = 0; i < 10; i++) releases.push(await limiter.acquire('acc', 'general'));
    const general = track(limiter.acquire('acc', 'general'));
    for (let i = 0; i < 40; i++) releases.push(await limiter.acquire('acc', 'telephony'));
    const telephony = track(limiter.acquire('acc', 'telephony'));
    await clock.tickAsync(25);
    expect(telephony.done).to.equal(true);
    expect(general.done).to.equal(false);
    await clock.tickAsync(75);
    expect(general.done).to.equal(true);
    releases.forEach((r) => r());
    telephony.value?.();
    general.value?.();
  });

  it('keeps accounts apart', async () => {
    // GIVEN account A exhausted WHEN account B asks THEN B passes at once
    make({ ratesPerSecond: { general: 1 } });
    const a = await limiter.acquire('A', 'general');
    const a2 = track(limiter.acquire('A', 'general'));
    const b = await limiter.acquire('B', 'general');
    await clock.tickAsync(0);
    expect(a2.done).to.equal(false);
    await clock.tickAsync(1000);
    expect(a2.done).to.equal(true);
    a();
    b();
    a2.value?.();
  });

  it('serves waiters in order and sustains exactly the rate', async () => {
    // GIVEN 5 rps, burst 5 and 15 waiters WHEN 2 s pass THEN all 15 got through (5 burst + 10 refilled), in order
    make({ ratesPerSecond: { general: 5 }, burst: { general: 5 } });
    const order: number[] = [];
    const all = Array.from({ length: 15 }, (_, i) =>
      limiter.acquire('acc', 'general').then((release) => {
        order.push(i);
        release();
      }),
    );
    await clock.tickAsync(1000);
    expect(order.length).to.equal(10);
    await clock.tickAsync(1000);
    await Promise.all(all);
    expect(order).to.deep.equal([...Array(15).keys()]);
  });

  it('bounds in-flight requests per account and admits the next on release', async () => {
    // GIVEN maxInFlight 2 WHEN 3 ask THEN the third waits until one releases
    make({ maxInFlightPerAccount: 2 });
    const r1 = await limiter.acquire('acc', 'general');
    const r2 = await limiter.acquire('acc', 'telephony');
    const third = track(limiter.acquire('acc', 'general'));
    await clock.tickAsync(5000);
    expect(third.done).to.equal(false);
    expect(limiter.stats('acc')).to.deep.equal({ inFlight: 2, waiting: 1 });
    r1();
    r1(); // a second release is harmless
    await clock.tickAsync(0);
    expect(third.done).to.equal(true);
    expect(limiter.stats('acc')).to.deep.equal({ inFlight: 2, waiting: 0 });
    r2();
    third.value?.();
    expect(limiter.stats('acc')).to.deep.equal({ inFlight: 0, waiting: 0 });
  });

  it('prefers telephony waiters when a slot frees', async () => {
    // GIVEN one slot, a general then a telephony waiter WHEN the slot frees THEN telephony goes first
    make({ maxInFlightPerAccount: 1 });
    const r = await limiter.acquire('acc', 'general');
    const general = track(limiter.acquire('acc', 'general'));
    const telephony = track(limiter.acquire('acc', 'telephony'));
    r();
    await clock.tickAsync(0);
    expect(telephony.done).to.equal(true);
    expect(general.done).to.equal(false);
    telephony.value?.();
    await clock.tickAsync(0);
    expect(general.done).to.equal(true);
    general.value?.();
  });

  it('refuses past the waiter bound with CrmOverloadedError, without queueing', async () => {
    // GIVEN maxWaiters 2 and an exhausted bucket WHEN a third waiter comes THEN it is refused at once
    make({ ratesPerSecond: { general: 1 }, maxWaitersPerAccount: 2 });
    const r = await limiter.acquire('acc', 'general');
    const w1 = track(limiter.acquire('acc', 'general'));
    const w2 = track(limiter.acquire('acc', 'general'));
    const w3 = track(limiter.acquire('acc', 'general'));
    await clock.tickAsync(0);
    expect(w3.error).to.be.instanceOf(CrmOverloadedError);
    expect(limiter.stats('acc').waiting).to.equal(2);
    r();
    await clock.tickAsync(2000);
    expect(w1.done && w2.done).to.equal(true);
    w1.value?.();
    w2.value?.();
  });

  it('rejects a waiter promptly when its signal aborts, and frees its place', async () => {
    // GIVEN a waiter behind an empty bucket WHEN its signal aborts THEN it rejects with CrmTimeoutError at once
    make({ ratesPerSecond: { general: 1 } });
    const r = await limiter.acquire('acc', 'general');
    const controller = new AbortController();
    const waiter = track(limiter.acquire('acc', 'general', controller.signal));
    await clock.tickAsync(10);
    controller.abort();
    await waiter.settled;
    expect(waiter.error).to.be.instanceOf(CrmTimeoutError);
    expect(limiter.stats('acc').waiting).to.equal(0);
    r();
  });

  it('rejects at once when the signal is already aborted', async () => {
    // GIVEN an aborted signal WHEN acquiring THEN CrmTimeoutError without taking a token
    make({ ratesPerSecond: { general: 1 } });
    const controller = new AbortController();
    controller.abort();
    const result = track(limiter.acquire('acc', 'general', controller.signal));
    await result.settled;
    expect(result.error).to.be.instanceOf(CrmTimeoutError);
    const release = await limiter.acquire('acc', 'general'); // the only token is still there
    release();
  });

  it('an aborted waiter does not hold back the ones behind it', async () => {
    // GIVEN two waiters WHEN the first aborts THEN the second gets the next token
    make({ ratesPerSecond: { general: 1 } });
    const r = await limiter.acquire('acc', 'general');
    const controller = new AbortController();
    const first = track(limiter.acquire('acc', 'general', controller.signal));
    const second = track(limiter.acquire('acc', 'general'));
    controller.abort();
    await clock.tickAsync(1000);
    expect(first.error).to.be.instanceOf(CrmTimeoutError);
    expect(second.done).to.equal(true);
    r();
    second.value?.();
  });

  it('penalize() holds a class back for the given time', async () => {
    // GIVEN a 503 with Retry-After 2 s WHEN penalized THEN no token for 2 s, then flow resumes
    make();
    limiter.penalize('acc', 'general', 2000);
    const waiter = track(limiter.acquire('acc', 'general'));
    const telephony = await limiter.acquire('acc', 'telephony');
    await clock.tickAsync(1999);
    expect(waiter.done).to.equal(false);
    await clock.tickAsync(200);
    expect(waiter.done).to.equal(true);
    telephony();
    waiter.value?.();
  });

  it('close() rejects every waiter and clears its timers', async () => {
    // GIVEN waiters WHEN the limiter closes THEN they reject and no timer is left (checked in afterEach)
    make({ ratesPerSecond: { general: 1 } });
    const r = await limiter.acquire('acc', 'general');
    const waiter = track(limiter.acquire('acc', 'general'));
    limiter.close();
    await waiter.settled;
    expect(waiter.error).to.be.instanceOf(CrmOverloadedError);
    r();
  });

  it('forgets idle accounts once their buckets are full again', async () => {
    // GIVEN an account that made a request WHEN it released and the bucket refilled THEN its state is dropped
    make({ ratesPerSecond: { general: 10 } });
    const r = await limiter.acquire('acc', 'general');
    r();
    await clock.tickAsync(1000);
    const r2 = await limiter.acquire('other', 'general');
    r2();
    expect(limiter.stats('acc')).to.deep.equal({ inFlight: 0, waiting: 0 });
  });

  it('defaults the burst to half the rate (slack for RetailCRM\'s own bucket)', async () => {
    // GIVEN defaults (10 rps) WHEN 6 requests come at once THEN 5 pass immediately, the 6th after 100 ms
    make();
    const releases: Release[] = [];
    for (let i = 0; i < 5; i++) releases.push(await limiter.acquire('acc', 'general'));
    const sixth = track(limiter.acquire('acc', 'general'));
    await clock.tickAsync(99);
    expect(sixth.done).to.equal(false);
    await clock.tickAsync(1);
    expect(sixth.done).to.equal(true);
    releases.forEach((r) => r());
    sixth.value?.();
  });

  it('rejects invalid rates', () => {
    // GIVEN a zero rate WHEN constructing THEN RangeError
    make();
    expect(() => new RateLimiter({ ratesPerSecond: { general: 0 } })).to.throw(RangeError);
  });
});
