/**
 * Command-line flags: parsed with node:util parseArgs (unknown flags refused) and validated into typed values.
 * Every refusal is an InputError with a message a person can act on.
 */
import { parseArgs } from 'node:util';
import { isSupportedCountry } from 'libphonenumber-js';
import { InputError } from '../lib/errors.js';
import { ENTERPRISE_NUMBER } from '../db/enterprise-store.js';
import { EXTENSION_CODE } from '../db/extension-store.js';

export type FlagSpec = Record<string, { type: 'string' | 'boolean' }>;

export function parseFlags(argv: readonly string[], spec: FlagSpec): Record<string, string | boolean | undefined> {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: true });
    if (positionals.length > 0) throw new InputError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError((err as Error).message);
  }
}

export function str(flags: Record<string, string | boolean | undefined>, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function required(flags: Record<string, string | boolean | undefined>, name: string): string {
  const v = str(flags, name);
  if (v === undefined || v.trim() === '') throw new InputError(`--${name} is required`, name);
  return v.trim();
}

export function enterpriseNumber(value: string): string {
  if (!ENTERPRISE_NUMBER.test(value)) {
    throw new InputError(`enterprise number must be 1-32 letters, digits, - or _ (got ${JSON.stringify(value)})`, 'number');
  }
  return value;
}

export function crmUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`--crm-url is not a URL: ${JSON.stringify(value)}`, 'crm-url');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new InputError('--crm-url must be https:// (RetailCRM accepts only https)', 'crm-url');
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new InputError('--crm-url is the account address only, e.g. https://shop.retailcrm.ru', 'crm-url');
  }
  return `${url.protocol}//${url.host}`;
}

export function apiKey(value: string): string {
  if (!/^[\x21-\x7e]{8,200}$/.test(value)) {
    throw new InputError('--api-key must be 8-200 printable characters without spaces', 'api-key');
  }
  return value;
}

export function clientId(value: string): string {
  if (!/^[\x21-\x7e]{16,200}$/.test(value)) {
    throw new InputError('--client-id must be 16-200 printable characters without spaces', 'client-id');
  }
  return value;
}

export function country(value: string): string {
  const upper = value.toUpperCase();
  if (!/^[A-Z]{2}$/.test(upper) || !isSupportedCountry(upper)) {
    throw new InputError(`--country must be an ISO 3166 two-letter code, e.g. BY or RU (got ${JSON.stringify(value)})`, 'country');
  }
  return upper;
}

export function site(value: string): string | null {
  if (value === '') return null;
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(value)) throw new InputError('--site must be a RetailCRM site code', 'site');
  return value;
}

export function extension(value: string): string {
  if (!EXTENSION_CODE.test(value)) {
    throw new InputError(`--ext must be 1-32 characters of 0-9 A-Z a-z * # + _ - (got ${JSON.stringify(value)})`, 'ext');
  }
  return value;
}

export function positiveInt(value: string, name: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) <= 0) throw new InputError(`--${name} must be a positive whole number`, name);
  return Number(value);
}

export function onOff(value: string, name: string): boolean {
  if (/^(on|yes|true|1)$/i.test(value)) return true;
  if (/^(off|no|false|0)$/i.test(value)) return false;
  throw new InputError(`--${name} must be on or off`, name);
}
