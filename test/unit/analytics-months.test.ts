/**
 * Unit: wholeMonths, which splits a period of local days into the whole months read from call_stats_monthly
 * (sql/017) and the edge days read from call_stats_daily; summedHistogram, which adds up the rollup rows'
 * waiting-time histograms for histogramP90.
 */
import { expect } from 'chai';
import { histogramP90, summedHistogram, wholeMonths } from '../../src/analytics/analytics-queries.js';

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

describe('summedHistogram', () => {
  // GIVEN monthly and edge-day histograms WHEN added up THEN bucket by bucket, empty buckets left out
  it('adds histograms bucket by bucket', () => {
    expect(summedHistogram([[0, 2, 0, 1], [1, 0, 0, 3], [0, 0, 0, 0]])).to.deep.equal([{ b: 1, n: 1 }, { b: 2, n: 2 }, { b: 4, n: 4 }]);
    expect(summedHistogram(null)).to.deep.equal([]);
  });

  // GIVEN 10 waits WHEN the p90 is taken from the summed histogram THEN the bucket holding the 9th wait, as before
  it('feeds histogramP90 as the per-bucket rows did', () => {
    const edges = [1, 2, 3, 4];
    // waits: one 0 s, two 1 s, seven 3 s → the 9th smallest is 3 s (bucket 4: [3, 4)), reported as 3
    expect(histogramP90(summedHistogram([[1, 2, 0, 3, 0], [0, 0, 0, 4, 0]]), edges)).to.equal(3);
  });
});
