import { expect } from 'chai';
import { backoffDelay, type BackoffPolicy } from '../../src/lib/backoff.js';

const zero = (): number => 0;
const half = (): number => 0.5;
const top = (): number => 1 - Number.EPSILON;

interface Row {
  readonly name: string;
  readonly attempt: number;
  readonly policy: BackoffPolicy;
  readonly random?: () => number;
  readonly expected: number;
}

const table: Row[] = [
  { name: 'attempt 0 waits the initial delay', attempt: 0, policy: { initialMs: 250, maxMs: 30_000 }, expected: 250 },
  { name: 'doubles by default', attempt: 3, policy: { initialMs: 250, maxMs: 30_000 }, expected: 2_000 },
  { name: 'custom factor', attempt: 2, policy: { initialMs: 100, maxMs: 30_000, factor: 3 }, expected: 900 },
  { name: 'factor 1 is a constant delay', attempt: 7, policy: { initialMs: 50, maxMs: 50, factor: 1 }, expected: 50 },
  { name: 'capped', attempt: 20, policy: { initialMs: 250, maxMs: 30_000 }, expected: 30_000 },
  { name: 'huge attempt stays finite', attempt: 5_000, policy: { initialMs: 250, maxMs: 30_000 }, expected: 30_000 },
  { name: 'negative attempt counts as 0', attempt: -3, policy: { initialMs: 250, maxMs: 30_000 }, expected: 250 },
  { name: 'no jitter ignores the random source', attempt: 1, policy: { initialMs: 100, maxMs: 1_000 }, random: zero, expected: 200 },
  { name: 'partial jitter, random 0: lowest share', attempt: 0, policy: { initialMs: 500, maxMs: 30_000, jitter: 0.2 }, random: zero, expected: 400 },
  { name: 'partial jitter, half: in the middle of the band', attempt: 0, policy: { initialMs: 500, maxMs: 30_000, jitter: 0.2 }, random: half, expected: 450 },
  { name: 'full jitter, random 0: no wait', attempt: 4, policy: { initialMs: 100, maxMs: 10_000, jitter: 1 }, random: zero, expected: 0 },
  { name: 'full jitter, half', attempt: 2, policy: { initialMs: 100, maxMs: 10_000, jitter: 1 }, random: half, expected: 200 },
  { name: 'full jitter under the cap', attempt: 30, policy: { initialMs: 100, maxMs: 10_000, jitter: 1 }, random: top, expected: 9_999 },
];

describe('backoff policy', () => {
  for (const row of table) {
    it(row.name, () => {
      // GIVEN the row's policy, attempt and random source WHEN the delay is computed THEN it is the expected one
      expect(backoffDelay(row.attempt, row.policy, row.random ?? half)).to.equal(row.expected);
    });
  }

  it('uses Math.random when no source is given, and stays in the jitter band', () => {
    // GIVEN a 20 % jitter WHEN asked 100 times THEN every delay is within [80 %, 100 %] of the ceiling
    for (let i = 0; i < 100; i++) expect(backoffDelay(2, { initialMs: 1_000, maxMs: 60_000, jitter: 0.2 })).to.be.within(3_200, 4_000);
  });
});
