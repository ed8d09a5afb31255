/**
 * The building blocks of the defensive RetailCRM parsers: the envelope check, ids (positive integers, as
 * numbers or numeric strings), lenient optional fields (wrongly typed → undefined), lists, names and phones.
 * Anything unusable where the contract promises it → CrmBadResponseError.
 */
import { CrmBadResponseError } from '../lib/errors.js';

export type Obj = Record<string, unknown>;

export function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function bad(message: string): never {
  throw new CrmBadResponseError(message);
}

/** The response body: an object with `success: true`. */
export function expectEnvelope(body: unknown): Obj {
  if (!isObject(body)) bad(`expected a JSON object, got ${describe(body)}`);
  if (body.success !== true) bad(`expected "success": true, got ${describe(body.success)}`);
  return body;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

export function toId(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value.trim())) {
    const n = Number(value.trim());
    return n > 0 ? n : undefined;
  }
  return undefined;
}

export function requireId(value: unknown, what: string): number {
  const id = toId(value);
  if (id === undefined) bad(`${what} is not a valid id (${describe(value)})`);
  return id;
}

export function optId(value: unknown): number | undefined {
  return toId(value);
}

/** A non-empty string (numbers accepted, e.g. an extension sent as 101); anything else → undefined. */
export function optString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export function optBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === '1' || value === 'true') return true;
  if (value === 0 || value === '0' || value === 'false') return false;
  return undefined;
}

export function optCount(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,15}$/.test(value)) return Number(value);
  return undefined;
}

export function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map(optString).filter((s): s is string => s !== undefined);
}

export function idList(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  return value.map(toId).filter((n): n is number => n !== undefined);
}

/** Remove control characters and collapse whitespace; undefined when nothing is left. */
export function cleanName(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(/\s+/g, ' ').trim();
  return cleaned === '' ? undefined : cleaned;
}

export function parsePhones(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const phones: string[] = [];
  for (const item of value) {
    // Phones come as [{number}] per the contract; a bare string is tolerated.
    const number = isObject(item) ? optString(item.number) : optString(item);
    if (number !== undefined) phones.push(number);
  }
  return phones;
}
