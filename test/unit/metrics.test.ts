/** The metrics registry: collectors that fail or miss the scrape deadline are counted, not fatal; endpoint labels. */
import { expect } from 'chai';
import { endpointLabel, Metrics } from '../../src/metrics/metrics.js';
import { metricValue } from '../helpers/http-get.js';

describe('metrics registry', () => {
  it('counts a failing collector and one past the deadline, and still renders', async () => {
    const m = new Metrics();
    // The slow collector finishes only when the test says so, after the scrape's deadline has passed.
    let finishSlow = (): void => undefined;
    const slow = new Promise<void>((resolve) => (finishSlow = resolve));
    m.addCollector('boom', () => {
      throw new Error('database gone');
    });
    m.addCollector('slow', () => slow);
    m.addCollector('fine', () => m.liveCalls.set(3));
    const text = await m.render(20);
    expect(metricValue(text, 'rcrm_scrape_errors_total', { collector: 'boom' })).to.equal(1);
    expect(metricValue(text, 'rcrm_scrape_errors_total', { collector: 'slow' })).to.equal(1);
    expect(metricValue(text, 'rcrm_live_calls')).to.equal(3);
    finishSlow();
    await slow;
  });

  it('labels endpoints with bounded cardinality', () => {
    expect(endpointLabel('/v5/customers/123/edit?by=id')).to.equal('/v5/customers/:id/edit');
    expect(endpointLabel('/v5/telephony/manager')).to.equal('/v5/telephony/manager');
  });
});
