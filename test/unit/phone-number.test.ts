import { expect } from 'chai';
import { normalisePhone } from '../../src/domain/phone-number.js';

describe('normalisePhone', () => {
  const cases: [string, string, string | null][] = [
    ['+375291234567', 'BY', '+375291234567'],
    ['375291234567', 'BY', '+375291234567'],
    ['80291234567', 'BY', '+375291234567'],
    ['(029) 123-45-67', 'BY', '+375291234567'],
    ['00375291234567', 'RU', '+375291234567'],
    ['810375291234567', 'BY', '+375291234567'],
    ['89161234567', 'RU', '+79161234567'],
    ['9161234567', 'RU', '+79161234567'],
    ['+7 (916) 123-45-67', 'RU', '+79161234567'],
    ['sip:+79161234567@carrier.example', 'RU', '+79161234567'],
    ['375291234567', 'RU', '+375291234567'],
    ['+79161234567', 'BY', '+79161234567'],
  ];
  for (const [raw, country, expected] of cases) {
    // GIVEN a number in local, national or international form WHEN normalised THEN it is E.164
    it(`${raw} (${country}) → ${expected}`, () => {
      const n = normalisePhone(raw, country);
      expect(n).to.deep.equal({ kind: 'e164', e164: expected });
    });
  }

  // GIVEN hidden, empty, internal or garbage numbers WHEN normalised THEN they are unusable, not guessed
  for (const raw of ['', 'unknown', 'anonymous', 'Restricted', '101', '12345', 'abc', '+1', '999999999999999999999']) {
    it(`refuses ${JSON.stringify(raw)}`, () => {
      expect(normalisePhone(raw, 'RU').kind).to.equal('unusable');
    });
  }
});
