/**
 * Logging: winston, JSON lines, one child logger per call. Secrets are redacted by key name wherever they
 * appear in a log object, and by pattern (`apiKey=…`, `X-API-KEY: …`, a URL's password) inside error messages and
 * stacks; phone numbers are masked at info level by whoever logs them (maskPhone). An error keeps its story: name,
 * message, code, stack, its `cause` chain and any failure `suppressed` while handling it.
 */
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type Logger = winston.Logger;

const SECRET_KEYS = /^(api[-_]?key|x-api-key|secret|.*secret|password|token|.*token|clientid|client_id|authorization)$/i;

/** `apiKey=abc`, `"x-api-key": "abc"`, `Authorization: Bearer abc`: the key name stays, the value goes. */
const SECRET_IN_TEXT =
  /\b(api[-_]?key|x-api-key|secret|password|token|access[-_]?token|client[-_]?id|authorization)(["']?\s*[:=]\s*["']?)(?:bearer\s+|basic\s+)?[^\s"'&,;)}\]]+/gi;
/** `postgres://user:password@host`: the password goes. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@/\s]+@/gi;

/** Masks secrets written into free text (error messages and stacks often quote the URL or header that failed). */
export function redactText(text: string): string {
  return text.replace(SECRET_IN_TEXT, '$1$2[redacted]').replace(URL_PASSWORD, '$1[redacted]@');
}

const MAX_CAUSE_DEPTH = 5;

/**
 * An error as a log object: name, message, code, stack, the error's own primitive fields (status, errorMsg, pg's
 * detail...), then `cause` and `suppressed` (and an AggregateError's `errors`), recursively to a fixed depth.
 */
function serializeError(err: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: redactText(err.message) };
  for (const [k, v] of Object.entries(err)) {
    if (k === 'cause' || k === 'suppressed' || k === 'errors') continue;
    if (typeof v === 'string') out[k] = SECRET_KEYS.test(k) && v !== '' ? '[redacted]' : redactText(v);
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out['code'] = code;
  if (err.stack !== undefined) out['stack'] = redactText(err.stack);
  if (depth >= MAX_CAUSE_DEPTH) return out;
  const nested = (v: unknown): unknown => (v instanceof Error ? serializeError(v, depth + 1) : redact(v, depth + 1));
  if (err.cause !== undefined) out['cause'] = nested(err.cause);
  const suppressed = (err as { suppressed?: unknown }).suppressed;
  if (Array.isArray(suppressed) && suppressed.length > 0) out['suppressed'] = suppressed.map(nested);
  if (err instanceof AggregateError && Array.isArray(err.errors)) out['errors'] = err.errors.map(nested);
  return out;
}

function redact(value: unknown, depth: number): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return serializeError(value, 0);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = SECRET_KEYS.test(k) && v !== undefined && v !== null && v !== '' ? '[redacted]' : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const v = info[key];
    if (SECRET_KEYS.test(key) && typeof v === 'string' && v !== '') info[key] = '[redacted]';
    else if (v !== null && typeof v === 'object') info[key] = redact(v, 0);
  }
  return info;
});

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Tests and benchmarks pass silent: true. */
  readonly silent?: boolean;
  readonly stream?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const transport = opts.stream
    ? new winston.transports.Stream({ stream: opts.stream })
    : new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] });
  return winston.createLogger({
    level: opts.level,
    silent: opts.silent ?? false,
    format: winston.format.combine(winston.format.timestamp(), redactFormat(), winston.format.json()),
    transports: [transport],
  });
}

/** `+375291234567` → `+3752912***67`: enough to correlate, not enough to identify at info level. */
export function maskPhone(phone: string): string {
  if (phone.length <= 5) return '*'.repeat(phone.length);
  const keepEnd = 2;
  const keepStart = Math.max(1, Math.min(7, phone.length - 6));
  return phone.slice(0, keepStart) + '*'.repeat(phone.length - keepStart - keepEnd) + phone.slice(-keepEnd);
}

/** The logging a call needs: winston's four levels and child(), nothing else. */
export interface CallLog {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  child(meta: Record<string, unknown>): CallLog;
}

/**
 * A per-call child logger that costs nothing until it logs: winston's own child() builds a logger object on
 * every call, which shows in the FastAGI benchmark; this one only merges its fields when a line is written.
 */
export function callLog(base: Logger, meta: Record<string, unknown>): CallLog {
  const write = (level: LogLevel, message: string, extra?: Record<string, unknown>): void => {
    if (!base.isLevelEnabled(level)) return;
    base.log(level, message, extra ? { ...meta, ...extra } : { ...meta });
  };
  return {
    error: (m, x) => write('error', m, x),
    warn: (m, x) => write('warn', m, x),
    info: (m, x) => write('info', m, x),
    debug: (m, x) => write('debug', m, x),
    child: (more) => callLog(base, { ...meta, ...more }),
  };
}
