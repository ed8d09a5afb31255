/**
 * What a CLI command gets: the parsed config, a pool on the service's database (embedded or DATABASE_URL, with
 * migrations applied), the secret box and the stores. `withCliContext` releases all of it however the command ends.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { AuditLog, type AuditEntry } from '../audit/audit-store.js';
import { SERVICE_ENV_FILE, type Config } from '../config/config.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { InputError } from '../lib/errors.js';
import { EnterpriseStore } from '../db/enterprise-store.js';
import { keyCheckRecords } from '../db/key-check-store.js';
import { ExtensionStore } from '../db/extension-store.js';
import { migrate } from '../db/migrate.js';
import { createPool, type Pool } from '../db/pool.js';
import { openCheckedSecretBox } from '../secrets/key-check.js';
import type { SecretBox } from '../secrets/secret-box.js';

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export interface CliContext {
  readonly config: Config;
  readonly pool: Pool;
  readonly box: SecretBox;
  readonly enterprises: EnterpriseStore;
  readonly extensions: ExtensionStore;
  readonly io: CliOutput;
  readonly audit: AuditLog;
  /** Records an administrative change made by this command, as the OS user running it. */
  recordChange(entry: Omit<AuditEntry, 'source' | 'actor'>): Promise<void>;
}

/** The OS user running the CLI (the login name, not a name from the environment a user could set). */
export function osUser(): string {
  try {
    const u = os.userInfo();
    return `${u.username} (uid ${u.uid})`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

export interface CliDatabaseOptions {
  /** Whether the service's environment file exists (a seam for tests; the real check looks at SERVICE_ENV_FILE). */
  readonly serviceEnvFileExists?: () => boolean;
}

/**
 * Opens the configured database and says on stderr which one it is. Never starts an embedded PostgreSQL behind
 * the back of a configured service: with SERVICE_ENV_FILE present and not read, that is refused (exit 2) with the
 * flag to add; `--env-file /dev/null` says "no configuration, on purpose".
 */
export async function openCliDatabase(config: Config, io: CliOutput, opts: CliDatabaseOptions = {}): Promise<DatabaseHandle> {
  const from = config.envFile !== null ? ` (configuration from ${config.envFile})` : '';
  const serviceEnvFileExists = opts.serviceEnvFileExists ?? (() => existsSync(SERVICE_ENV_FILE));
  const db = await openDatabase(config, {
    owner: false,
    beforeStartingEmbedded: () => {
      if (config.envFile === null && serviceEnvFileExists()) {
        throw new InputError(
          `${SERVICE_ENV_FILE} (the service's configuration) exists but was not read, and DATABASE_URL is not set: ` +
            `run with --env-file ${SERVICE_ENV_FILE} (or set RCRM_ENV_FILE) to use the service's database, ` +
            `or with --env-file /dev/null to start an embedded PostgreSQL in DATA_DIR ${config.dataDir}`,
          'env-file',
        );
      }
      io.err(`database: DATABASE_URL is not set; starting an embedded PostgreSQL for DATA_DIR ${config.dataDir}${from}`);
    },
  });
  io.err(`database: ${db.description}${from}`);
  return db;
}

export async function withCliContext<T>(config: Config, io: CliOutput, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const db = await openCliDatabase(config, io);
  const pool = createPool({ connectionString: db.url, max: 2, applicationName: 'retailcrm-agi-cli' });
  try {
    await migrate(pool);
    const box = await openCheckedSecretBox(keyCheckRecords(pool), config, (file) =>
      io.err(`warning: SECRET_KEY is not set; generated one in ${file}. Back it up or set SECRET_KEY.`),
    );
    const audit = new AuditLog(pool);
    const actor = osUser();
    return await fn({
      config,
      pool,
      box,
      enterprises: new EnterpriseStore(pool, box),
      extensions: new ExtensionStore(pool),
      io,
      audit,
      recordChange: async (entry) => {
        await audit.append({ ...entry, source: 'cli', actor });
      },
    });
  } finally {
    await pool.end();
    await db.release();
  }
}
