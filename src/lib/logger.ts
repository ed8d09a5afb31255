/**
 * Logging: winston, JSON lines, one child logger per call. Secrets are redacted by key name wherever they
 * appear in a log object; phone numbers are masked at info level by whoever logs them (maskPhone).
 */
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type Logger = winston.Logger;

const SECRET_KEYS = /^(api[-_]?key|x-api-key|secret|.*secret|password|token|.*token|clientid|client_id|authorization)$/i;

function redact(value: unknown, depth: number): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
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
