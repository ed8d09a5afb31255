/** Unit: the one retry decision for RetailCRM requests, as a table (STYLE.md §6). */
import { expect } from 'chai';
import {
  CrmAuthError,
  CrmBadResponseError,
  CrmHttpError,
  CrmNetworkError,
  CrmOverloadedError,
  CrmRateLimitedError,
  CrmTimeoutError,
  InputError,
} from '../../src/lib/errors.js';
import { parseRetryAfter } from '../../src/crm/http-errors.js';
import { isRetryable, retryDelay } from '../../src/crm/retry-policy.js';

const half = (): number => 0.5;
const top = (): number => 0.999999;
const zero = (): number => 0;

interface Row {
  readonly name: string;
  readonly attempt: number;
  readonly error: unknown;
  readonly random?: () => number;
  readonly baseMs?: number;
  readonly capMs?: number;
  readonly expected: number | null;
}

// baseMs 100, capMs 10_000 unless the row says otherwise; delay = floor(random · min(cap, base·2^(attempt-1))).
const table: Row[] = [
  { name: 'wrong API key is permanent', attempt: 1, error: new CrmAuthError(403, 'Wrong "apiKey" value.'), expected: null },
  { name: '400 validation is permanent', attempt: 1, error: new CrmHttpError(400, 'Errors in the entity format', {}, false), expected: null },
  { name: '404 is permanent', attempt: 1, error: new CrmHttpError(404, 'Not found', undefined, false), expected: null },
  { name: '405 is permanent', attempt: 1, error: new CrmHttpError(405, undefined, undefined, false), expected: null },
  { name: '408 is retried', attempt: 1, error: new CrmHttpError(408, undefined, undefined, true), random: half, expected: 50 },
  { name: '429 as HTTP error is retried', attempt: 1, error: new CrmHttpError(429, undefined, undefined, false), random: half, expected: 50 },
  { name: '500 is retried, attempt 1', attempt: 1, error: new CrmHttpError(500, undefined, undefined, true), random: half, expected: 50 },
  { name: '502 attempt 3 doubles twice', attempt: 3, error: new CrmHttpError(502, undefined, undefined, true), random: half, expected: 200 },
  { name: 'jitter 0 gives 0', attempt: 4, error: new CrmNetworkError('ECONNRESET'), random: zero, expected: 0 },
  { name: 'jitter near 1 stays under the ceiling', attempt: 2, error: new CrmTimeoutError(1000), random: top, expected: 199 },
  { name: 'cap bounds big attempts', attempt: 30, error: new CrmNetworkError('x'), random: top, expected: 9999 },
  { name: 'huge attempt does not overflow', attempt: 5000, error: new CrmNetworkError('x'), random: half, expected: 5000 },
  { name: 'bad response (HTML/truncated) is retried', attempt: 1, error: new CrmBadResponseError('html'), random: half, expected: 50 },
  { name: 'our own overload is retried', attempt: 1, error: new CrmOverloadedError('busy'), random: half, expected: 50 },
  { name: '503 with Retry-After honours it', attempt: 1, error: new CrmRateLimitedError(503, 2000), random: top, expected: 2000 },
  { name: 'Retry-After 0 means now', attempt: 2, error: new CrmRateLimitedError(503, 0), expected: 0 },
  { name: 'Retry-After above cap is capped', attempt: 1, error: new CrmRateLimitedError(429, 3_600_000), expected: 10_000 },
  { name: '503 without Retry-After waits a window plus jitter', attempt: 1, error: new CrmRateLimitedError(503, undefined), random: half, expected: 1050 },
  { name: '503 without Retry-After, jitter 0', attempt: 3, error: new CrmRateLimitedError(503, undefined), random: zero, expected: 1000 },
  { name: 'custom base', attempt: 2, error: new CrmNetworkError('x'), baseMs: 1000, random: half, expected: 1000 },
  { name: 'custom small cap', attempt: 1, error: new CrmRateLimitedError(503, undefined), capMs: 500, random: half, expected: 500 },
  { name: 'attempt 0 is invalid', attempt: 0, error: new CrmNetworkError('x'), expected: null },
  { name: 'NaN attempt is invalid', attempt: Number.NaN, error: new CrmNetworkError('x'), expected: null },
  { name: 'an unknown Error (a bug) is not retried', attempt: 1, error: new TypeError('boom'), expected: null },
  { name: 'a non-CRM app error is not retried', attempt: 1, error: new InputError('too many calls'), expected: null },
  { name: 'a thrown string is not retried', attempt: 1, error: 'oops', expected: null },
];

describe('crm retry policy', () => {
  for (const row of table) {
    it(row.name, () => {
      // GIVEN the row's error and attempt WHEN retryDelay decides THEN the expected delay (or null)
      const delay = retryDelay({
        attempt: row.attempt,
        error: row.error,
        baseMs: row.baseMs ?? 100,
        capMs: row.capMs ?? 10_000,
        random: row.random ?? half,
      });
      expect(delay).to.equal(row.expected);
    });
  }

  it('uses defaults (250 ms base, 30 s cap) and Math.random when not given', () => {
    // GIVEN no options WHEN asked 100 times THEN every delay is in [0, 250]
    for (let i = 0; i < 100; i++) {
      const d = retryDelay({ attempt: 1, error: new CrmNetworkError('x') });
      expect(d).to.be.a('number').within(0, 250);
    }
    expect(retryDelay({ attempt: 1, error: new CrmRateLimitedError(503, 60_000) })).to.equal(30_000);
  });

  it('isRetryable agrees with the errors', () => {
    // GIVEN a permanent and a transient error WHEN classified THEN false / true
    expect(isRetryable(new CrmAuthError(403, undefined))).to.equal(false);
    expect(isRetryable(new CrmTimeoutError(5))).to.equal(true);
  });

  describe('parseRetryAfter (feeds CrmRateLimitedError.retryAfterMs)', () => {
    const now = Date.parse('2024-05-01T10:00:00Z');
    const rows: [string, string | string[] | undefined, number | undefined][] = [
      ['seconds', '2', 2000],
      ['fractional seconds', '0.5', 500],
      ['padded', ' 3 ', 3000],
      ['an HTTP date 5 s ahead', 'Wed, 01 May 2024 10:00:05 GMT', 5000],
      ['an HTTP date in the past clamps to 0', 'Wed, 01 May 2024 09:00:00 GMT', 0],
      ['the first of repeated headers', ['4', '9'], 4000],
      ['absent', undefined, undefined],
      ['empty', '', undefined],
      ['garbage', 'soon', undefined],
      ['negative', '-1', undefined],
    ];
    for (const [name, header, expected] of rows) {
      it(name, () => {
        // GIVEN the header WHEN parsed THEN milliseconds or undefined
        expect(parseRetryAfter(header, now)).to.equal(expected);
      });
    }
  });
});
