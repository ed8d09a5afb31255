/**
 * The fields of a click-to-call Originate, built from the enterprise's PBX settings and one request, and every
 * check that keeps text from RetailCRM out of Asterisk's channel names and dial strings (STYLE.md §25: a comma
 * in a CRM value once broke a provider's routing). Pure: no I/O. Anything doubtful is refused, never cleaned.
 */
import type { OriginateSettings } from '../domain/pbx-settings.js';
import { InputError } from '../lib/errors.js';
import { EXTENSION_CODE } from '../db/extension-store.js';

/** A normalised customer number: digits with an optional leading plus, nothing else. */
export const CUSTOMER_NUMBER = /^\+?[0-9]{3,20}$/;
export const CONTEXT_NAME = /^[A-Za-z0-9_-]{1,80}$/;
export const CALLER_ID_NUMBER = /^\+?[0-9]{3,20}$/;
const TECHNOLOGIES = ['PJSIP', 'SIP', 'IAX2', 'Local', 'DAHDI'] as const;
const TEMPLATE_CHARS = /^[A-Za-z0-9/_.@{}-]{1,120}$/;
export const MIN_ORIGINATE_TIMEOUT_S = 5;
export const MAX_ORIGINATE_TIMEOUT_S = 120;

export type { OriginateSettings } from '../domain/pbx-settings.js';

export interface ClickToCallTarget {
  readonly enterprise: string;
  readonly ext: string;
  /** E.164 or digits, already normalised. */
  readonly customer: string;
  /** Shown on the manager's phone; empty → the number. */
  readonly customerName: string;
  readonly crmCallId: string;
}

export interface OriginateFields {
  readonly channel: string;
  readonly context: string;
  readonly exten: string;
  readonly callerId: string;
  readonly variables: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

/** Channel variables the shipped dialplan (dialplan/click-to-call.conf) reads. */
export const C2C_VARIABLES = Object.freeze({
  crmCallId: 'CRM_CALL_ID',
  enterprise: 'RCRM_ENTERPRISE',
  managerExt: 'RCRM_C2C_EXT',
  outboundCallerId: 'RCRM_OUTBOUND_CID',
});

export function validateChannelTemplate(template: string): string {
  if (!TEMPLATE_CHARS.test(template)) {
    throw new InputError('channel template may hold only letters, digits and / _ . @ - plus {ext}, e.g. PJSIP/{ext}', 'channel');
  }
  const withoutPlaceholder = template.replaceAll('{ext}', '');
  if (!template.includes('{ext}') || /[{}]/.test(withoutPlaceholder)) {
    throw new InputError('channel template must contain {ext} (and no other {…}), e.g. PJSIP/{ext}', 'channel');
  }
  const tech = template.split('/', 1)[0] ?? '';
  if (!(TECHNOLOGIES as readonly string[]).includes(tech) || !template.includes('/')) {
    throw new InputError(`channel template must start with one of ${TECHNOLOGIES.join(', ')} and a slash`, 'channel');
  }
  return template;
}

export function validateContext(context: string): string {
  if (!CONTEXT_NAME.test(context)) throw new InputError('context must be 1-80 letters, digits, _ or -', 'context');
  return context;
}

export function validateCallerIdNumber(number: string): string {
  if (!CALLER_ID_NUMBER.test(number)) {
    throw new InputError('outbound caller id must be digits with an optional leading +, e.g. +375171234567', 'outbound-callerid');
  }
  return number;
}

export function validateOriginateTimeout(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < MIN_ORIGINATE_TIMEOUT_S || seconds > MAX_ORIGINATE_TIMEOUT_S) {
    throw new InputError(
      `originate timeout must be ${MIN_ORIGINATE_TIMEOUT_S}-${MAX_ORIGINATE_TIMEOUT_S} seconds`,
      'originate-timeout',
    );
  }
  return seconds;
}

export function validateOriginateSettings(s: OriginateSettings): OriginateSettings {
  validateChannelTemplate(s.channelTemplate);
  validateContext(s.context);
  if (s.outboundCallerId !== null) validateCallerIdNumber(s.outboundCallerId);
  validateOriginateTimeout(s.originateTimeoutS);
  return s;
}

/** What a person may type in a phone field; anything else (& / , @ letters controls …) cannot be dialled. */
const PHONE_RAW = /^[0-9+()\-. ]{1,40}$/;

function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `a control character (U+${code.toString(16).padStart(4, '0').toUpperCase()})`;
  if (/\p{L}/u.test(ch)) return `a letter (${JSON.stringify(ch)})`;
  return JSON.stringify(ch);
}

/**
 * Refuses a phone as RetailCRM sent it when it holds anything but digits, +, spaces, ( ) - and dots — before any
 * normalisation, so that `123&PJSIP/999` is refused rather than cleaned into `123999`.
 */
export function checkRawPhone(raw: string | undefined): string {
  const phone = raw ?? '';
  if (phone.trim() === '') throw new InputError('phone is required', 'phone');
  if (!PHONE_RAW.test(phone)) {
    const bad = [...phone].find((ch) => !/[0-9+()\-. ]/.test(ch));
    const what = bad === undefined ? 'more than 40 characters' : describeChar(bad);
    throw new InputError(`phone contains ${what}; only digits, +, spaces, ( ) - and . are accepted`, 'phone');
  }
  if (phone.indexOf('+') > 0 || phone.split('+').length > 2) {
    throw new InputError('phone may hold + only at the start', 'phone');
  }
  return phone;
}

/** The caller id name shown on the manager's phone: no quotes, brackets, backslashes or control characters. */
export function callerIdName(name: string): string {
  return name
    .replace(/[\p{Cc}\p{Cf}"<>\\;|]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 60);
}

export function channelFor(template: string, ext: string): string {
  if (!EXTENSION_CODE.test(ext)) throw new InputError(`extension ${JSON.stringify(ext)} cannot be dialled`, 'code');
  return validateChannelTemplate(template).replaceAll('{ext}', ext);
}

/** The Originate that rings the manager first and, once answered, runs the customer leg in `settings.context`. */
export function buildOriginate(settings: OriginateSettings, target: ClickToCallTarget): OriginateFields {
  validateOriginateSettings(settings);
  if (!CUSTOMER_NUMBER.test(target.customer)) {
    throw new InputError('customer number must be digits with an optional leading + after normalisation', 'phone');
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(target.crmCallId)) throw new InputError('invalid call id', 'crmCallId');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(target.enterprise)) throw new InputError('invalid enterprise number', 'enterprise');
  const channel = channelFor(settings.channelTemplate, target.ext);
  const name = callerIdName(target.customerName) || target.customer;
  const variables: Record<string, string> = {
    [C2C_VARIABLES.crmCallId]: target.crmCallId,
    [C2C_VARIABLES.enterprise]: target.enterprise,
    [C2C_VARIABLES.managerExt]: target.ext,
  };
  if (settings.outboundCallerId !== null) variables[C2C_VARIABLES.outboundCallerId] = settings.outboundCallerId;
  return {
    channel,
    context: settings.context,
    exten: target.customer,
    callerId: `"${name}" <${target.customer}>`,
    variables,
    timeoutMs: settings.originateTimeoutS * 1000,
  };
}
