/**
 * Where the database is: DATABASE_URL when set; otherwise the embedded PostgreSQL under DATA_DIR. The running
 * service writes the embedded server's URL to DATA_DIR/embedded-pg.url, so a CLI command run beside it connects
 * to the same server instead of trying to start a second one on the same data directory.
 * The embedded PostgreSQL's module is loaded only when it is used. Every handle says which database it is
 * (`description`, password masked), so neither the service nor the CLI uses a database silently.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/config.js';
import { DatabaseUnreachableError } from '../lib/errors.js';

export interface DatabaseHandle {
  readonly url: string;
  readonly embedded: boolean;
  /** "postgres://rcrm:***@db:5432/rcrm", or "embedded PostgreSQL … for DATA_DIR …". */
  readonly description: string;
  release(): Promise<void>;
  /** For a forced exit: stops an embedded PostgreSQL this process started, without waiting. */
  kill(): void;
}

const CONNECT_TIMEOUT_MS = 5_000;

/** The URL with its password masked, for logs and messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Connects once and runs `select 1`; throws DatabaseUnreachableError with the reason. */
export async function checkReachable(url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    const reason = (err as Error).message || (err as NodeJS.ErrnoException).code || String(err);
    throw new DatabaseUnreachableError(`cannot use the database ${redactDatabaseUrl(url)}: ${reason}`, { cause: err });
  } finally {
    await client.end().catch((err: unknown) => process.emitWarning(err instanceof Error ? err : String(err)));
  }
}

async function reachable(url: string): Promise<boolean> {
  return checkReachable(url, 2_000).then(
    () => true,
    () => false,
  );
}

const noop = (): void => undefined;

export interface OpenOptions {
  /** The service owns the embedded PostgreSQL it starts (and publishes its URL for the CLI). */
  readonly owner: boolean;
  readonly onLog?: (m: string) => void;
  readonly onUnexpectedExit?: (reason: string) => void;
  /** Called just before an embedded PostgreSQL is started; may throw to refuse (the CLI does, see cli-context). */
  readonly beforeStartingEmbedded?: () => void;
}

export async function openDatabase(config: Config, opts: OpenOptions): Promise<DatabaseHandle> {
  if (config.databaseUrl !== null) {
    await checkReachable(config.databaseUrl);
    const description = redactDatabaseUrl(config.databaseUrl);
    return { url: config.databaseUrl, embedded: false, description, release: async () => undefined, kill: noop };
  }
  const urlFile = path.join(config.dataDir, 'embedded-pg.url');
  if (existsSync(urlFile)) {
    const url = (await readFile(urlFile, 'utf8')).trim();
    if (await reachable(url)) {
      const description = `the running service's embedded PostgreSQL for DATA_DIR ${config.dataDir} (${redactDatabaseUrl(url)})`;
      return { url, embedded: true, description, release: async () => undefined, kill: noop };
    }
    await rm(urlFile, { force: true });
  }
  opts.beforeStartingEmbedded?.();
  const { startEmbeddedPostgres } = await import('./embedded.js');
  const db = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPgPort,
    stateDir: config.embeddedPgStateDir,
    ownProcessGroup: opts.owner,
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
    ...(opts.onUnexpectedExit ? { onUnexpectedExit: opts.onUnexpectedExit } : {}),
  });
  if (opts.owner) {
    await writeFile(urlFile, `${db.url}\n`, { mode: 0o600 }).catch(async (err: unknown) => {
      await db.stop();
      throw err;
    });
  }
  return {
    url: db.url,
    embedded: true,
    description: db.description,
    release: async () => {
      if (opts.owner) await rm(urlFile, { force: true });
      await db.stop();
    },
    kill: () => db.kill(),
  };
}
