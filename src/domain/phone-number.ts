/**
 * Phone numbers as Asterisk hands them over (`+375291234567`, `80291234567`, `00375…`, `(029) 123-45-67`,
 * `anonymous`) → E.164 for lookups and RetailCRM, using the enterprise's default country.
 * Numbers that are not dialable public numbers (extensions, hidden ids) are reported as such, not guessed.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { LRUCache } from 'lru-cache';

export type NormalisedPhone =
  | { readonly kind: 'e164'; readonly e164: string }
  | { readonly kind: 'unusable'; readonly reason: 'empty' | 'hidden' | 'short' | 'invalid' };

const HIDDEN = /^(unknown|anonymous|restricted|private|unavailable|withheld|asterisk)$/i;

// Parsing with libphonenumber costs tens of microseconds; the same callers call again and again.
const memo = new LRUCache<string, NormalisedPhone>({ max: 10_000 });

export function normalisePhone(raw: string | undefined, defaultCountry: string): NormalisedPhone {
  const key = `${defaultCountry}|${raw ?? ''}`;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const result = parsePhone(raw, defaultCountry);
  memo.set(key, result);
  return result;
}

function parsePhone(raw: string | undefined, defaultCountry: string): NormalisedPhone {
  const trimmed = (raw ?? '').trim();
  if (trimmed === '') return { kind: 'unusable', reason: 'empty' };
  if (HIDDEN.test(trimmed)) return { kind: 'unusable', reason: 'hidden' };
  // Keep digits and a leading plus; SIP URIs (`sip:+7916…@host`) keep their user part.
  const user = trimmed.replace(/^(sips?|tel):/i, '').split('@')[0] ?? '';
  const plus = user.trimStart().startsWith('+');
  let digits = user.replace(/\D+/g, '');
  if (digits === '') return { kind: 'unusable', reason: 'invalid' };
  if (digits.length < 7 || digits.length > 15 + 3) return { kind: 'unusable', reason: 'short' };

  const country = defaultCountry.toUpperCase() as CountryCode;
  const candidates: string[] = [];
  if (plus) candidates.push(`+${digits}`);
  else {
    if (digits.startsWith('00')) {
      digits = digits.slice(2);
      candidates.push(`+${digits}`);
    } else if (country === 'BY' && digits.startsWith('810')) {
      candidates.push(`+${digits.slice(3)}`); // Belarus and Russia's old international prefix 8-10
    } else if (country === 'RU' && digits.startsWith('810')) {
      candidates.push(`+${digits.slice(3)}`);
    }
    candidates.push(digits); // national, with the default country
    candidates.push(`+${digits}`); // international without the plus
  }

  for (const candidate of candidates) {
    const parsed = candidate.startsWith('+')
      ? parsePhoneNumberFromString(candidate)
      : parsePhoneNumberFromString(candidate, country);
    if (parsed?.isValid()) return { kind: 'e164', e164: parsed.number };
  }
  return { kind: 'unusable', reason: 'invalid' };
}
