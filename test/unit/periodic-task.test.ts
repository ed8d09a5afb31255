import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { PeriodicTask } from '../../src/lib/periodic-task.js';

describe('periodic task', () => {
  let clock: ReturnType<typeof FakeTimers.install>;
  beforeEach(() => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => clock.uninstall());

  // GIVEN a task every 100 ms WHEN started THEN it runs now and again 100 ms after each run; stop() ends it
  it('runs now, then an interval after each run, until stopped', async () => {
    let runs = 0;
    const task = new PeriodicTask(async () => void runs++, 100, () => undefined);
    task.start();
    await clock.tickAsync(0);
    expect(runs).to.equal(1);
    await clock.tickAsync(99);
    expect(runs).to.equal(1);
    await clock.tickAsync(1);
    expect(runs).to.equal(2);
    await task.stop();
    await clock.tickAsync(1_000);
    expect(runs).to.equal(2);
    expect(task.stopped).to.equal(true);
  });

  // GIVEN a run that fails WHEN it ends THEN the failure is reported and the next run still comes
  it('reports a failing run and keeps going', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const task = new PeriodicTask(async () => {
      runs++;
      if (runs === 1) throw new Error('boom');
    }, 50, (err) => errors.push(err));
    task.start();
    await clock.tickAsync(50);
    expect(runs).to.equal(2);
    expect(errors).to.have.length(1);
    await task.stop();
  });

  // GIVEN intervalMs 0 WHEN started THEN one run only
  it('runs once when the interval is 0', async () => {
    let runs = 0;
    const task = new PeriodicTask(async () => void runs++, 0, () => undefined);
    task.start();
    await clock.tickAsync(10_000);
    expect(runs).to.equal(1);
    await task.stop();
  });
});
