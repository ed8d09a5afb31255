/**
 * AMI codec: one message block ↔ an `AmiMessage`, and an action → the bytes to send.
 *
 * Parsing keeps every `Key: value` line in order, because keys repeat (`Variable:` in Status/Getvar answers,
 * `ChanVariable(...)`, the `Output:` lines of a `Command` answer); `fields` offers lowercased-key access to the
 * first value of each key. Formatting refuses CR/LF anywhere in a key or value: a newline in a value would end
 * the line and let the rest be read by Asterisk as further headers or a whole new action (AMI injection).
 */
import { AmiProtocolError } from '../lib/errors.js';

export interface AmiLine {
  /** The key as Asterisk wrote it (case kept); '' for a line without a colon. */
  readonly key: string;
  readonly value: string;
}

export type AmiMessageKind = 'response' | 'event';

export class AmiMessage {
  readonly kind: AmiMessageKind;
  /** Event name (`Hangup`) or response status (`Success`, `Error`, `Goodbye`, `Follows`). */
  readonly type: string;
  /** Every line in order, keys with their original case. */
  readonly lines: readonly AmiLine[];
  /** Lowercased key → first value. Use `all()` for keys that repeat. */
  readonly fields: Readonly<Record<string, string>>;

  constructor(kind: AmiMessageKind, type: string, lines: readonly AmiLine[]) {
    this.kind = kind;
    this.type = type;
    this.lines = lines;
    const fields: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const { key, value } of lines) {
      const k = key.toLowerCase();
      if (!(k in fields)) fields[k] = value;
    }
    this.fields = Object.freeze(fields);
  }

  /** First value of a key, case-insensitive. */
  get(key: string): string | undefined {
    return this.fields[key.toLowerCase()];
  }

  /** Every value of a key, in order (e.g. all `Variable` lines). */
  all(key: string): string[] {
    const k = key.toLowerCase();
    return this.lines.filter((l) => l.key.toLowerCase() === k).map((l) => l.value);
  }

  get actionId(): string | undefined {
    return this.get('actionid');
  }

  /** `Command` output: the `Output:` lines (Asterisk ≥ 14), plus any bare lines older versions sent. */
  get output(): string[] {
    return this.lines.filter((l) => l.key === '' || l.key.toLowerCase() === 'output').map((l) => l.value);
  }

  /** `Variable: NAME=value` lines (and `ChanVariable(...)` ones) as a map; later duplicates win. */
  get variables(): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const { key, value } of this.lines) {
      const k = key.toLowerCase();
      if (k !== 'variable' && !k.startsWith('chanvariable')) continue;
      const eq = value.indexOf('=');
      if (eq > 0) vars[value.slice(0, eq)] = value.slice(eq + 1);
    }
    return vars;
  }

  /** `EventList:` value lowercased (`start`, `complete`, `cancelled`), if present. */
  get eventList(): string | undefined {
    return this.get('eventlist')?.toLowerCase();
  }

  /** First values with keys as Asterisk spelled them; handy for error reports and logs. */
  toRecord(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { key, value } of this.lines) if (key !== '' && !(key in out)) out[key] = value;
    return out;
  }
}

/** Splits a block into lines; `Key: value` (one optional space after the colon is part of the separator). */
export function parseLines(block: string): AmiLine[] {
  const lines: AmiLine[] = [];
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      lines.push({ key: '', value: line });
      continue;
    }
    const key = line.slice(0, colon);
    let value = line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    lines.push({ key, value });
  }
  return lines;
}

/** Parses a server block. Throws AmiProtocolError if it is neither a `Response:` nor an `Event:`. */
export function parseMessage(block: string): AmiMessage {
  const lines = parseLines(block);
  const first = lines[0];
  if (first === undefined) throw new AmiProtocolError('empty AMI message');
  const key = first.key.toLowerCase();
  if (key === 'response') return new AmiMessage('response', first.value, lines);
  if (key === 'event') return new AmiMessage('event', first.value, lines);
  // Asterisk always starts with Response/Event, but be lenient if it comes later in the block.
  const response = lines.find((l) => l.key.toLowerCase() === 'response');
  if (response) return new AmiMessage('response', response.value, lines);
  const event = lines.find((l) => l.key.toLowerCase() === 'event');
  if (event) return new AmiMessage('event', event.value, lines);
  throw new AmiProtocolError(`AMI message is neither a response nor an event: ${JSON.stringify(first.key)}`);
}

/** Values an action field accepts; an array repeats the key (e.g. several `Variable:` lines). */
export type AmiFieldValue = string | number | boolean | readonly string[] | undefined;
export type AmiActionFields = Readonly<Record<string, AmiFieldValue>>;

const RESERVED_KEYS = new Set(['action', 'actionid']);
const KEY_PATTERN = /^[A-Za-z0-9_()\-.]+$/;

function checkValue(action: string, key: string, value: string): string {
  if (/[\r\n]/.test(value)) {
    throw new AmiProtocolError(`AMI ${action}: value of ${key} contains CR or LF; refused (header injection)`);
  }
  return value;
}

/** Formats an action as CRLF lines ending with an empty line. `undefined` values are left out. */
export function formatAction(action: string, fields: AmiActionFields, actionId: string): Buffer {
  if (!KEY_PATTERN.test(action)) throw new AmiProtocolError(`invalid AMI action name ${JSON.stringify(action)}`);
  const out = [`Action: ${action}`, `ActionID: ${checkValue(action, 'ActionID', actionId)}`];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (!KEY_PATTERN.test(key)) throw new AmiProtocolError(`AMI ${action}: invalid field name ${JSON.stringify(key)}`);
    if (RESERVED_KEYS.has(key.toLowerCase())) {
      throw new AmiProtocolError(`AMI ${action}: field ${key} is set by the client, not by callers`);
    }
    const values = Array.isArray(value) ? (value as readonly string[]) : [String(value)];
    for (const v of values) out.push(`${key}: ${checkValue(action, key, String(v))}`);
  }
  return Buffer.from(`${out.join('\r\n')}\r\n\r\n`, 'utf8');
}
