/**
 * What a CLI command gets: the parsed config, a pool on the service's database (embedded or DATABASE_URL, with
 * migrations applied), the secret box and the stores. `withCliContext` releases all of it however the command ends.
 */
import os from 'node:os';
import { AuditLog, type AuditEntry } from '../audit/audit-store.js';
import type { Config } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { EnterpriseStore } from '../db/enterprise-store.js';
import { ExtensionStore } from '../db/extension-store.js';
import { migrate } from '../db/migrate.js';
import { createPool, type Pool } from '../db/pool.js';
import { createSecretBox, type SecretBox } from '../secrets/secret-box.js';
import { resolveSecretKey } from '../secrets/secret-key-file.js';

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

export async function withCliContext<T>(config: Config, io: CliOutput, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, { owner: false });
  const pool = createPool({ connectionString: db.url, max: 2, applicationName: 'retailcrm-agi-cli' });
  try {
    await migrate(pool);
    const secret = await resolveSecretKey(config.secretKey, config.dataDir);
    if (secret.source === 'generated') {
      io.err(`warning: SECRET_KEY is not set; generated one in ${secret.file}. Back it up or set SECRET_KEY.`);
    }
    const box = createSecretBox(secret.key);
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
