/**
 * Configuration: the only module that reads the environment. `loadConfig` parses every variable once into a
 * typed, frozen object and reports every invalid value at once (ConfigError), so boot fails fast and clearly.
 * An environment file (`--env-file`, or RCRM_ENV_FILE; the systemd unit's EnvironmentFile=) is merged here, with
 * Node's own parser (util.parseEnv); a variable set in the environment wins over the file, as with systemd.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { LOOPBACK_CIDRS, parseCidrList } from '../lib/address-allow-list.js';
import { ConfigError } from '../lib/errors.js';

/** The environment file the systemd unit reads (EnvironmentFile=-/etc/retailcrm-agi/env); the CLI reads it on request. */
export const SERVICE_ENV_FILE = '/etc/retailcrm-agi/env';

import type { LogLevel } from '../lib/logger.js';

export type { LogLevel };

export interface Config {
  /** The environment file merged into the environment, or null. */
  readonly envFile: string | null;
  /** PostgreSQL URL; null means: start the embedded PostgreSQL under dataDir. */
  readonly databaseUrl: string | null;
  readonly dataDir: string;
  /** Port for the embedded PostgreSQL; 0 picks a free port at each start. */
  readonly embeddedPgPort: number;
  /** As root: where the embedded PostgreSQL's runtime and cluster go when the postgres user cannot reach them. */
  readonly embeddedPgStateDir: string;
  readonly agiHost: string;
  readonly agiPort: number;
  /** CIDRs of the FastAGI peers (PBXs) allowed to connect; anyone else is closed at accept. */
  readonly agiAllow: readonly string[];
  /** CIDRs allowed to reach /metrics, /ready and the dashboard (RetailCRM's callbacks stay open). */
  readonly httpAdminAllow: readonly string[];
  readonly httpHost: string;
  readonly httpPort: number;
  /** makeCallUrl requests allowed per RetailCRM clientId per minute; 0: no limit. */
  readonly makeCallRatePerMinute: number;
  /** Base URL RetailCRM and browsers use to reach the HTTP server (recordings, click-to-call, webhooks). */
  readonly publicUrl: string;
  /** The most the live call path may wait on RetailCRM. */
  readonly lookupBudgetMs: number;
  /** Key material for encrypting stored secrets and signing URLs; null: generated under dataDir. */
  readonly secretKey: string | null;
  /** The keyring file (`secret rotate`); null: DATA_DIR/keyring.json. */
  readonly secretKeyringFile: string | null;
  readonly logLevel: LogLevel;
  readonly agiMaxSessions: number;
  /** A FastAGI peer that sends nothing for this long is disconnected. */
  readonly agiIdleTimeoutMs: number;
  readonly lookupCacheTtlMs: number;
  readonly lookupCacheMax: number;
  /** A phone→customer row younger than this is used without asking RetailCRM. */
  readonly customerFreshMs: number;
  /** Deadline of a RetailCRM request made off the call path (outbox, CLI). */
  readonly crmTimeoutMs: number;
  /** Bound on concurrent requests to one RetailCRM account. */
  readonly crmMaxInFlight: number;
  readonly recordingsDir: string;
  /** Recordings (docs/recordings.md): MP3 conversion, how long the upload waits for it, WAV kept, retention sweep. */
  readonly recordings: {
    readonly mp3: boolean;
    readonly mp3Kbps: number;
    /** After the WAV is final, the upload waits at most this long for the MP3, then links the WAV. */
    readonly mp3WaitMs: number;
    readonly mp3Workers: number;
    readonly mp3MaxQueued: number;
    readonly keepWav: boolean;
    /** How often this host looks for recordings MixMonitor has finished. */
    readonly scanMs: number;
    /** How often expired recordings are deleted (per enterprise recordingRetentionDays); 0: never. */
    readonly retentionIntervalMs: number;
  };
  readonly shutdownDrainMs: number;
  readonly dbPoolMax: number;
  /** Separate connections for the live call path (lookups), so background work cannot starve it. */
  readonly dbCallPoolMax: number;
  /** Connections for dashboard and analytics queries, apart from deliveries and calls. */
  readonly dbAnalyticsPoolMax: number;
  /** How often customers/history and orders/history are polled per enterprise; 0 turns polling off. */
  readonly syncPollIntervalMs: number;
  /** How often managers' statuses are read from RetailCRM (0: only changeUserStatusUrl callbacks). */
  readonly managerStatusSyncMs: number;
  /** Calls reconciled from Asterisk's CDRs (docs/reconcile.md): pass interval (0: off), look-back, grace. */
  readonly reconcile: {
    readonly intervalMs: number;
    readonly windowMs: number;
    readonly graceMs: number;
  };
  readonly outbox: {
    readonly concurrency: number;
    readonly pollIntervalMs: number;
    /** A claimed job whose worker went silent this long is taken over (its instance died). */
    readonly lockTimeoutMs: number;
    readonly maxAttempts: number;
    /** Retryable failures give up only after maxAttempts AND this age. */
    readonly giveUpAfterMs: number;
    readonly retryCapMs: number;
  };
}

type Env = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value)) {
      this.problems.push(`${name} must be a whole number, got ${JSON.stringify(value)}`);
      return fallback;
    }
    const n = Number(value);
    if (n < min || n > max) {
      this.problems.push(`${name} must be between ${min} and ${max}, got ${n}`);
      return fallback;
    }
    return n;
  }

  /** on/off (also true/false, yes/no, 1/0); unset means `fallback`. */
  onOff(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['on', 'true', 'yes', '1'].includes(value)) return true;
    if (['off', 'false', 'no', '0'].includes(value)) return false;
    this.problems.push(`${name} must be on or off, got ${JSON.stringify(value)}`);
    return fallback;
  }

  /** A comma-separated CIDR list; unset means `fallback`. */
  cidrs(name: string, fallback: readonly string[]): readonly string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = parseCidrList(value);
    for (const p of parsed.problems) this.problems.push(`${name}: ${p}`);
    if (parsed.cidrs.length === 0 && parsed.problems.length === 0) this.problems.push(`${name} lists no address`);
    return Object.freeze([...parsed.cidrs]);
  }

  url(name: string, fallback: string | null, protocols: readonly string[]): string | null {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use ${protocols.join(' or ')}, got ${parsed.protocol}`);
        return fallback;
      }
      return value;
    } catch {
      this.problems.push(`${name} is not a valid URL`);
      return fallback;
    }
  }
}

export interface LoadOptions {
  /** `--env-file`; overrides RCRM_ENV_FILE. */
  readonly envFile?: string | null;
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

/** The environment with the env file's variables added under it; problems reading the file are reported. */
function withEnvFile(env: Env, file: string | null, problems: string[]): Env {
  if (file === null) return env;
  let vars: Record<string, string | undefined>;
  try {
    vars = parseEnv(readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`cannot read the environment file ${file}: ${(err as Error).message}`);
    return env;
  }
  const merged: Record<string, string | undefined> = { ...vars };
  for (const [name, value] of Object.entries(env)) if (isSet(value) || !isSet(merged[name])) merged[name] = value;
  return merged;
}

export function loadConfig(env: Env, cwd: string = process.cwd(), opts: LoadOptions = {}): Config {
  const fileProblems: string[] = [];
  const envFileRaw = opts.envFile ?? (isSet(env['RCRM_ENV_FILE']) ? env['RCRM_ENV_FILE'].trim() : null);
  const envFile = envFileRaw === null ? null : path.resolve(cwd, envFileRaw);
  const r = new Reader(withEnvFile(env, envFile, fileProblems));
  r.problems.push(...fileProblems);
  const dataDir = path.resolve(cwd, r.string('DATA_DIR', 'data'));
  const httpPort = r.int('HTTP_PORT', 8019, 0, 65535);

  const logLevelRaw = r.string('LOG_LEVEL', 'info').toLowerCase();
  let logLevel: LogLevel = 'info';
  if ((LOG_LEVELS as readonly string[]).includes(logLevelRaw)) logLevel = logLevelRaw as LogLevel;
  else r.problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevelRaw)}`);

  const secretKey = r.raw('SECRET_KEY') ?? null;
  if (secretKey !== null && secretKey.length < 32) {
    r.problems.push('SECRET_KEY must be at least 32 characters (use `openssl rand -hex 32`)');
  }

  const publicUrl = (r.url('PUBLIC_URL', `http://localhost:${httpPort}`, ['http:', 'https:']) ?? '').replace(/\/+$/, '');

  const config: Config = {
    envFile,
    databaseUrl: r.url('DATABASE_URL', null, ['postgres:', 'postgresql:']),
    dataDir,
    embeddedPgPort: r.int('EMBEDDED_PG_PORT', 0, 0, 65535),
    embeddedPgStateDir: path.resolve(cwd, r.string('EMBEDDED_PG_STATE_DIR', '/var/lib/retailcrm-agi-pg')),
    agiHost: r.string('AGI_HOST', '0.0.0.0'),
    agiPort: r.int('AGI_PORT', 4573, 0, 65535),
    agiAllow: r.cidrs('AGI_ALLOW', LOOPBACK_CIDRS),
    httpAdminAllow: r.cidrs('HTTP_ADMIN_ALLOW', LOOPBACK_CIDRS),
    httpHost: r.string('HTTP_HOST', '0.0.0.0'),
    httpPort,
    makeCallRatePerMinute: r.int('MAKE_CALL_RATE_PER_MINUTE', 60, 0, 100_000),
    publicUrl,
    lookupBudgetMs: r.int('LOOKUP_BUDGET_MS', 1500, 50, 60_000),
    secretKey,
    secretKeyringFile: r.raw('SECRET_KEYRING_FILE') === undefined ? null : path.resolve(cwd, r.string('SECRET_KEYRING_FILE', '')),
    logLevel,
    agiMaxSessions: r.int('AGI_MAX_SESSIONS', 2000, 1, 100_000),
    agiIdleTimeoutMs: r.int('AGI_IDLE_TIMEOUT_MS', 30_000, 100, 3_600_000),
    lookupCacheTtlMs: r.int('LOOKUP_CACHE_TTL_MS', 300_000, 0, 86_400_000),
    lookupCacheMax: r.int('LOOKUP_CACHE_MAX', 100_000, 1, 10_000_000),
    customerFreshMs: r.int('CUSTOMER_FRESH_MS', 3_600_000, 0, 365 * 86_400_000),
    crmTimeoutMs: r.int('CRM_TIMEOUT_MS', 10_000, 100, 300_000),
    crmMaxInFlight: r.int('CRM_MAX_IN_FLIGHT', 32, 1, 1000),
    recordingsDir: path.resolve(cwd, r.string('RECORDINGS_DIR', '/var/spool/asterisk/monitor')),
    recordings: Object.freeze({
      mp3: r.onOff('RECORDING_MP3', true),
      mp3Kbps: r.int('RECORDING_MP3_KBPS', 32, 8, 320),
      mp3WaitMs: r.int('RECORDING_MP3_WAIT_MS', 30_000, 0, 3_600_000),
      mp3Workers: r.int('RECORDING_MP3_WORKERS', 1, 1, 16),
      mp3MaxQueued: r.int('RECORDING_MP3_MAX_QUEUED', 50, 0, 10_000),
      keepWav: r.onOff('RECORDING_KEEP_WAV', true),
      scanMs: r.int('RECORDING_SCAN_MS', 1_000, 10, 600_000),
      retentionIntervalMs: r.int('RECORDING_RETENTION_INTERVAL_MS', 3_600_000, 0, 7 * 86_400_000),
    }),
    shutdownDrainMs: r.int('SHUTDOWN_DRAIN_MS', 15_000, 0, 600_000),
    // At least 5: two LISTEN connections (outbox wake-ups, cache invalidation) are held for the process's life, and
    // the history poller and the reconciler each hold an advisory-lock session while they run.
    dbPoolMax: r.int('DB_POOL_MAX', 10, 5, 200),
    dbCallPoolMax: r.int('DB_CALL_POOL_MAX', 4, 1, 100),
    dbAnalyticsPoolMax: r.int('DB_ANALYTICS_POOL_MAX', 2, 1, 50),
    syncPollIntervalMs: r.int('SYNC_POLL_INTERVAL_MS', 60_000, 0, 86_400_000),
    managerStatusSyncMs: r.int('MANAGER_STATUS_SYNC_MS', 60_000, 0, 86_400_000),
    reconcile: Object.freeze({
      intervalMs: r.int('RECONCILE_INTERVAL_MS', 60_000, 0, 86_400_000),
      windowMs: r.int('RECONCILE_WINDOW_MS', 86_400_000, 60_000, 31 * 86_400_000),
      graceMs: r.int('RECONCILE_GRACE_MS', 60_000, 0, 86_400_000),
    }),
    outbox: Object.freeze({
      concurrency: r.int('OUTBOX_CONCURRENCY', 4, 1, 64),
      pollIntervalMs: r.int('OUTBOX_POLL_INTERVAL_MS', 1_000, 10, 600_000),
      lockTimeoutMs: r.int('OUTBOX_LOCK_TIMEOUT_MS', 60_000, 1_000, 3_600_000),
      maxAttempts: r.int('OUTBOX_MAX_ATTEMPTS', 25, 1, 1_000),
      giveUpAfterMs: r.int('OUTBOX_GIVE_UP_AFTER_MS', 3 * 86_400_000, 0, 365 * 86_400_000),
      retryCapMs: r.int('OUTBOX_RETRY_CAP_MS', 60_000, 10, 3_600_000),
    }),
  };

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return Object.freeze(config);
}
