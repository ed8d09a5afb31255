/**
 * The name shown on the managers' phones (CALLERID(name)), built from what RetailCRM knows and cleaned so it can
 * never break the AGI protocol or the dialplan: no control characters (CR/LF would split an AGI command),
 * whitespace folded, capped by characters and bytes. Quoting for the AGI line happens in the AGI codec;
 * routing never reads the name (RCRM_MANAGER is validated separately), so commas and pipes are harmless here.
 */

const MAX_GRAPHEMES = 64;
const MAX_BYTES = 200;
// C0, DEL, C1, line/paragraph separators, bidi overrides and isolates (they can hide text on a display).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

const segmenter = new Intl.Segmenter('und', { granularity: 'grapheme' });

export function cleanCallerName(raw: string): string {
  const folded = raw.replace(UNSAFE, ' ').replace(/\s+/g, ' ').trim();
  let out = '';
  let count = 0;
  let bytes = 0;
  for (const { segment } of segmenter.segment(folded)) {
    const size = Buffer.byteLength(segment, 'utf8');
    if (count >= MAX_GRAPHEMES || bytes + size > MAX_BYTES) break;
    out += segment;
    count++;
    bytes += size;
  }
  return out.trim();
}

export interface NameParts {
  readonly firstName?: string | null | undefined;
  readonly lastName?: string | null | undefined;
  readonly company?: string | null | undefined;
  readonly isCorporate?: boolean;
}

/** "First Last", or the company for a corporate customer; '' when RetailCRM has no usable name. */
export function displayName(parts: NameParts): string {
  const person = [parts.firstName, parts.lastName].filter((p): p is string => typeof p === 'string').join(' ');
  const preferred = parts.isCorporate ? (parts.company ?? '') || person : person || (parts.company ?? '');
  return cleanCallerName(preferred);
}
