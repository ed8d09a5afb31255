/**
 * FastAGI codec: pure functions between protocol lines and typed values. No I/O, no timers.
 *
 * Owns: the environment block (→ AgiEnvironment), the script path and its query string, response lines
 * (→ AgiResponse, including multi-line `520-` answers), and the command text we send: argument quoting the
 * way Asterisk's parse_args() reads it, with CR/LF/control characters removed (Asterisk splits commands on
 * `\n` and keeps `\r`) and a byte cap so no command line exceeds what Asterisk reads in one go.
 */
import { AgiProtocolError } from '../lib/errors.js';

/** Asterisk reads a command with fgets() into an 8192-byte buffer: 8191 bytes including the `\n`. */
export const MAX_COMMAND_LINE_BYTES = 8191;
/** Bound on environment lines we accept (Asterisk sends ~25 plus one per AGI argument). */
export const MAX_ENV_LINES = 512;

export interface AgiEnvironment {
  readonly network: string;
  /** Path after `host:port/` with the query string verbatim; absent when the AGI URL has no path. */
  readonly networkScript: string | undefined;
  readonly request: string;
  readonly channel: string;
  readonly language: string;
  readonly type: string;
  readonly uniqueid: string;
  readonly version: string;
  /** `unknown` when empty: that is what Asterisk sends; the caller decides what it means. */
  readonly callerid: string;
  readonly calleridname: string;
  readonly callingpres: string;
  readonly callingani2: string;
  readonly callington: string;
  readonly callingtns: string;
  readonly dnid: string;
  readonly rdnis: string;
  readonly context: string;
  readonly extension: string;
  readonly priority: string;
  readonly enhanced: string;
  readonly accountcode: string;
  readonly threadid: string;
  /** agi_arg_1..N (comma arguments after the URL), in order; a gap is filled with ''. */
  readonly args: readonly string[];
  /** Every line as sent, keyed by the full name (`agi_network`, ...). */
  readonly raw: ReadonlyMap<string, string>;
}

export interface AgiScript {
  /** Path without leading slashes and without the query string, e.g. `incoming`; '' when there is none. */
  readonly script: string;
  readonly query: URLSearchParams;
}

export interface AgiResponse {
  readonly code: number;
  /** The `result=` token of a 200 answer ('' for other codes). */
  readonly result: string;
  /** Text between the first `(` and the last `)` after `result=`; undefined when there are none. */
  readonly value: string | undefined;
  /** For 200: what follows the result token; otherwise the message text (multi-line joined with `\n`). */
  readonly data: string;
  readonly lines: readonly string[];
}

// ---- environment ---------------------------------------------------------------------------------------

/** Splits one `agi_key: value` line; throws AgiProtocolError for anything else. */
export function parseEnvironmentLine(line: string): [key: string, value: string] {
  const colon = line.indexOf(':');
  if (colon <= 4 || !line.startsWith('agi_')) {
    throw new AgiProtocolError(`not an AGI environment line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  // Asterisk writes "key: value"; an empty value keeps the space ("agi_accountcode: ").
  const valueStart = line.charCodeAt(colon + 1) === 0x20 ? colon + 2 : colon + 1;
  return [line.slice(0, colon), line.slice(valueStart)];
}

/** Parses the environment block (the lines before the empty line; a trailing '' is tolerated). */
export function parseEnvironment(lines: readonly string[]): AgiEnvironment {
  const raw = new Map<string, string>();
  const args: string[] = [];
  let count = 0;
  for (const line of lines) {
    if (line === '') break;
    if (++count > MAX_ENV_LINES) throw new AgiProtocolError(`AGI environment longer than ${MAX_ENV_LINES} lines`);
    const [key, value] = parseEnvironmentLine(line);
    raw.set(key, value);
    if (key.startsWith('agi_arg_')) {
      const n = Number(key.slice(8));
      if (Number.isInteger(n) && n >= 1 && n <= MAX_ENV_LINES) {
        while (args.length < n - 1) args.push('');
        args[n - 1] = value;
      }
    }
  }
  if (raw.size === 0) throw new AgiProtocolError('empty AGI environment');
  const get = (k: string): string => raw.get(k) ?? '';
  return {
    network: get('agi_network'),
    networkScript: raw.get('agi_network_script'),
    request: get('agi_request'),
    channel: get('agi_channel'),
    language: get('agi_language'),
    type: get('agi_type'),
    uniqueid: get('agi_uniqueid'),
    version: get('agi_version'),
    callerid: get('agi_callerid'),
    calleridname: get('agi_calleridname'),
    callingpres: get('agi_callingpres'),
    callingani2: get('agi_callingani2'),
    callington: get('agi_callington'),
    callingtns: get('agi_callingtns'),
    dnid: get('agi_dnid'),
    rdnis: get('agi_rdnis'),
    context: get('agi_context'),
    extension: get('agi_extension'),
    priority: get('agi_priority'),
    enhanced: get('agi_enhanced'),
    accountcode: get('agi_accountcode'),
    threadid: get('agi_threadid'),
    args,
    raw,
  };
}

/**
 * `incoming?enterprise=0367&did=1717` (agi_network_script) or `agi://host:port/incoming?...` (agi_request)
 * → script and query. The query string arrives verbatim: Asterisk does not parse it.
 */
export function parseScriptPath(pathOrUrl: string): AgiScript {
  let rest = pathOrUrl;
  const scheme = rest.indexOf('://');
  if (scheme !== -1) {
    const afterHost = rest.slice(scheme + 3);
    const cut = firstOf(afterHost, '/', '?');
    rest = cut === -1 ? '' : afterHost.slice(cut);
  }
  let i = 0;
  while (rest.charCodeAt(i) === 0x2f) i++;
  if (i > 0) rest = rest.slice(i);
  const q = rest.indexOf('?');
  return {
    script: q === -1 ? rest : rest.slice(0, q),
    query: new URLSearchParams(q === -1 ? '' : rest.slice(q + 1)),
  };
}

/** The script of a session: agi_network_script when Asterisk sent it, else the path of agi_request. */
export function scriptOfEnvironment(env: AgiEnvironment): AgiScript {
  return parseScriptPath(env.networkScript ?? env.request);
}

function firstOf(s: string, a: string, b: string): number {
  const ia = s.indexOf(a);
  const ib = s.indexOf(b);
  if (ia === -1) return ib;
  if (ib === -1) return ia;
  return Math.min(ia, ib);
}

// ---- responses -----------------------------------------------------------------------------------------

/** The status code of a response line (`200 ...`, `520-...`, `510`), or -1 when the line is not one. */
export function responseCode(line: string): number {
  if (line.length < 3) return -1;
  const a = line.charCodeAt(0) - 48;
  const b = line.charCodeAt(1) - 48;
  const c = line.charCodeAt(2) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  if (line.length > 3) {
    const sep = line.charCodeAt(3);
    if (sep !== 0x20 && sep !== 0x2d) return -1;
  }
  return a * 100 + b * 10 + c;
}

/**
 * Collects the lines of one response. A single line is a whole response; `NNN-...` opens a multi-line one
 * that ends at the line starting with `NNN ` (Asterisk writes the usage text in two TCP segments ~40 ms apart).
 */
export class ResponseAssembler {
  private lines: string[] = [];
  private terminator: string | undefined;

  /** Returns the complete response lines, or undefined while more are needed. Throws on a non-response line. */
  push(line: string): string[] | undefined {
    if (this.terminator !== undefined) {
      this.lines.push(line);
      if (!line.startsWith(this.terminator)) return undefined;
      const done = this.lines;
      this.lines = [];
      this.terminator = undefined;
      return done;
    }
    const code = responseCode(line);
    if (code === -1) {
      throw new AgiProtocolError(`unexpected line from Asterisk: ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (line.charCodeAt(3) === 0x2d) {
      this.terminator = `${line.slice(0, 3)} `;
      this.lines = [line];
      return undefined;
    }
    return [line];
  }

  get inProgress(): boolean {
    return this.terminator !== undefined;
  }

  reset(): void {
    this.lines = [];
    this.terminator = undefined;
  }
}

/** Parses the lines of one complete response. */
export function parseResponse(lines: readonly string[]): AgiResponse {
  const first = lines[0];
  if (first === undefined) throw new AgiProtocolError('empty AGI response');
  const code = responseCode(first);
  if (code === -1) throw new AgiProtocolError(`not an AGI response: ${JSON.stringify(first.slice(0, 80))}`);
  if (lines.length === 1 && first.startsWith('result=', 4)) {
    const space = first.indexOf(' ', 11);
    const result = space === -1 ? first.slice(11) : first.slice(11, space);
    const data = space === -1 ? '' : first.slice(space + 1);
    // Asterisk does not escape the value: `200 result=1 ("Иван "Тест" Петров" <+375...>)`.
    const open = data.indexOf('(');
    const close = data.lastIndexOf(')');
    const value = open !== -1 && close > open ? data.slice(open + 1, close) : undefined;
    return { code, result, value, data, lines };
  }
  let data: string;
  if (lines.length === 1) {
    data = first.slice(4);
  } else {
    const parts: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      parts.push(i === 0 || i === lines.length - 1 ? line.slice(4) : line);
    }
    data = parts.join('\n');
  }
  return { code, result: '', value: undefined, data, lines };
}

// ---- commands ------------------------------------------------------------------------------------------

/** An argument written bare when it is a plain token (a variable name like `CALLERID(num)`), else quoted. */
export interface NameArgument {
  readonly name: string;
}
/** Strings are always quoted; numbers are written bare. */
export type CommandArgument = string | number | NameArgument;

function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/** True when `s` can go on the command line unquoted: non-empty, no blanks, quotes, backslashes, controls. */
export function isPlainToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x5c || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}

/**
 * `value` as one double-quoted argument: `\` → `\\`, `"` → `\"`, CR, LF and every other control character
 * removed. The result, quotes included, is at most `maxBytes` UTF-8 bytes: the value is cut on a character
 * boundary (never inside a UTF-8 sequence, a surrogate pair or an escape).
 */
export function quoteArgument(value: string, maxBytes: number = MAX_COMMAND_LINE_BYTES - 1): string {
  if (maxBytes < 2) throw new AgiProtocolError('no room for an argument on the command line');
  let out = '"';
  let bytes = 2;
  let runStart = 0;
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let cost: number;
    let units = 1;
    let special = false;
    if (c < 0x80) {
      if (c < 0x20 || c === 0x7f) special = true;
      cost = c === 0x22 || c === 0x5c ? 2 : 1;
      if (cost === 2) special = true;
    } else if (c < 0x800) {
      if (c <= 0x9f) special = true;
      cost = 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        cost = 4;
        units = 2;
      } else {
        cost = 3;
      }
    } else {
      cost = 3;
    }
    if (special && isControl(c)) {
      out += value.slice(runStart, i);
      runStart = i + 1;
      continue;
    }
    if (bytes + cost > maxBytes) break;
    bytes += cost;
    if (special) {
      out += value.slice(runStart, i) + (c === 0x22 ? '\\"' : '\\\\');
      runStart = i + 1;
    }
    i += units - 1;
  }
  return `${out}${value.slice(runStart, i)}"`;
}

function formatArgument(arg: CommandArgument, maxBytes: number): string {
  if (typeof arg === 'number') {
    if (!Number.isFinite(arg)) throw new AgiProtocolError(`not a finite number: ${arg}`);
    return String(arg);
  }
  if (typeof arg === 'string') return quoteArgument(arg, maxBytes);
  if (isPlainToken(arg.name) && Buffer.byteLength(arg.name) <= maxBytes) return arg.name;
  return quoteArgument(arg.name, maxBytes);
}

/**
 * One command line without its `\n`: `command` (fixed words such as `SET VARIABLE`) then the arguments.
 * The whole line plus `\n` never exceeds MAX_COMMAND_LINE_BYTES: each quoted argument gets what is left
 * after reserving room for the ones after it.
 */
export function formatCommand(command: string, args: readonly CommandArgument[] = []): string {
  assertCommandText(command);
  let line = command;
  let used = Buffer.byteLength(command) + 1; // + '\n'
  for (let i = 0; i < args.length; i++) {
    const reserved = (args.length - 1 - i) * 3; // ' ""' for every later argument
    const budget = MAX_COMMAND_LINE_BYTES - used - reserved - 1; // - ' '
    const text = formatArgument(args[i] as CommandArgument, budget);
    line += ` ${text}`;
    used += 1 + Buffer.byteLength(text);
  }
  return line;
}

/** Throws AgiProtocolError when `line` cannot be one command: a control character, or too long. */
export function assertCommandText(line: string): void {
  for (let i = 0; i < line.length; i++) {
    if (isControl(line.charCodeAt(i))) {
      throw new AgiProtocolError(`control character in AGI command: ${JSON.stringify(line.slice(0, 80))}`);
    }
  }
  if (Buffer.byteLength(line) + 1 > MAX_COMMAND_LINE_BYTES) {
    throw new AgiProtocolError(`AGI command longer than ${MAX_COMMAND_LINE_BYTES - 1} bytes`);
  }
}
