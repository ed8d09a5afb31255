/**
 * Unit: wholeMonths, which splits a period of local days into the whole months read from call_stats_monthly
 * (sql/017) and the edge days read from call_stats_daily.
 */
import { expect } from 'chai';
import { wholeMonths } from '../../src/analytics/analytics-queries.js';

describe('wholeMonths', () => {
  // GIVEN periods of local days WHEN split THEN the whole months inside, or an empty range at `to`
  const cases: [string, string, { from: string; to: string }][] = [
    ['2025-01-01', '2026-01-01', { from: '2025-01-01', to: '2026-01-01' }],
    ['2025-01-15', '2025-12-17', { from: '2025-02-01', to: '2025-12-01' }],
    ['2024-12-31', '2025-12-31', { from: '2025-01-01', to: '2025-12-01' }],
    ['2025-02-01', '2025-03-01', { from: '2025-02-01', to: '2025-03-01' }],
    ['2025-02-02', '2025-03-01', { from: '2025-03-01', to: '2025-03-01' }],
    ['2025-03-10', '2025-03-12', { from: '2025-03-12', to: '2025-03-12' }],
    ['2025-01-31', '2025-03-01', { from: '2025-02-01', to: '2025-03-01' }],
    ['2025-12-15', '2026-02-10', { from: '2026-01-01', to: '2026-02-01' }],
  ];
  for (const [from, to, expected] of cases) {
    it(`splits ${from} – ${to}`, () => {
      expect(wholeMonths(from, to)).to.deep.equal(expected);
    });
  }
});
