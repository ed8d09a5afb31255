/** /ready's per-enterprise decision as a table: RetailCRM, AMI and outbox facts → ok and reasons. */
import { expect } from 'chai';
import { enterpriseReadiness, type EnterpriseFacts } from '../../src/health/readiness.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const base: EnterpriseFacts = { enterprise: '0367', crm: undefined, amiState: undefined, oldestPendingSeconds: 0, failedJobs: 0 };
const t = { crmDownAfterMs: 120_000, outboxStuckAfterSeconds: 900 };

describe('readiness per enterprise', () => {
  const cases: [string, Partial<EnterpriseFacts>, RegExp | null][] = [
    ['nothing known yet', {}, null],
    ['RetailCRM answered last', { crm: { lastOkAt: NOW - 1_000, lastFailureAt: NOW - 5_000, lastFailure: 'unavailable' } }, null],
    ['a short RetailCRM hiccup after a success', { crm: { lastOkAt: NOW - 60_000, lastFailureAt: NOW - 1_000, lastFailure: 'unavailable' } }, null],
    ['RetailCRM failing for 3 minutes', { crm: { lastOkAt: NOW - 180_000, lastFailureAt: NOW - 1_000, lastFailure: 'unavailable' } }, /unreachable since 2026-12-06T11:57:00/],
    ['RetailCRM never answered', { crm: { lastOkAt: null, lastFailureAt: NOW - 1_000, lastFailure: 'unavailable' } }, /unreachable/],
    ['the API key refused', { crm: { lastOkAt: NOW - 10_000, lastFailureAt: NOW - 1_000, lastFailure: 'auth' } }, /API key/],
    ['AMI connected', { amiState: 'connected' }, null],
    ['AMI reconnecting', { amiState: 'reconnecting' }, /AMI not connected \(reconnecting\)/],
    ['outbox a little behind', { oldestPendingSeconds: 60 }, null],
    ['outbox stuck', { oldestPendingSeconds: 1_000 }, /outbox stuck: oldest pending job waits 1000 s/],
  ];
  for (const [name, facts, reason] of cases) {
    it(name, () => {
      const r = enterpriseReadiness({ ...base, ...facts }, NOW, t);
      expect(r.ok).to.equal(reason === null);
      if (reason) expect(r.reasons.join('; ')).to.match(reason);
    });
  }
});
