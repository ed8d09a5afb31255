/** Unit: the one test wait helper: what it returns, what counts as "not yet", and what its timeout says. */
import { expect } from 'chai';
import { rejection, waitFor } from '../helpers/async.js';

describe('waitFor (test helper)', () => {
  // GIVEN a probe that finds the thing on its third try WHEN awaited THEN the thing itself is returned
  it('returns the first value that is not false, null or undefined', async () => {
    let tries = 0;
    const found = await waitFor('the third try', () => (++tries === 3 ? { id: 3 } : undefined), { intervalMs: 1 });
    expect(found).to.deep.equal({ id: 3 });
    expect(await waitFor('zero', () => 0)).to.equal(0);
  });

  // GIVEN an asserting probe WHEN it throws until the state is there THEN a throw counts as "not yet"
  it('keeps polling while the probe throws', async () => {
    let n = 0;
    await waitFor('n to reach 2', () => {
      n++;
      expect(n).to.equal(2);
      return true;
    }, { intervalMs: 1 });
    expect(n).to.equal(2);
  });

  // GIVEN a state that never comes WHEN the time is up THEN the error names what was awaited and the last value seen
  it('fails with what was awaited and the last value or error seen', async () => {
    let n = 0;
    const byValue = await rejection(waitFor('the count to reach 100', () => ++n >= 100 && n, { timeoutMs: 30, intervalMs: 5 }));
    expect((byValue as Error).message).to.match(/^timed out after 30 ms waiting for the count to reach 100; last seen: the probe returned false$/);
    const byError = await rejection(waitFor('the job done', () => expect('pending', 'job state').to.equal('done'), { timeoutMs: 30, intervalMs: 5 }));
    expect((byError as Error).message).to.contain('waiting for the job done; last seen: the probe threw: job state: expected');
    expect((byError as Error).cause).to.be.instanceOf(Error);
  });
});
