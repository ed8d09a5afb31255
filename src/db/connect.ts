/**
 * Where the database is: DATABASE_URL when set; otherwise the embedded PostgreSQL under DATA_DIR. The running
 * service writes the embedded server's URL to DATA_DIR/embedded-pg.url, so a CLI command run beside it connects
 * to the same server instead of trying to start a second one on the same data directory.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config.js';
import { startEmbeddedPostgres } from './embedded.js';

export interface DatabaseHandle {
  readonly url: string;
  readonly embedded: boolean;
  release(): Promise<void>;
}

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function openDatabase(
  config: Config,
  opts: { readonly owner: boolean; readonly onLog?: (m: string) => void },
): Promise<DatabaseHandle> {
  if (config.databaseUrl !== null) {
    return { url: config.databaseUrl, embedded: false, release: async () => undefined };
  }
  const urlFile = path.join(config.dataDir, 'embedded-pg.url');
  if (existsSync(urlFile)) {
    const url = (await readFile(urlFile, 'utf8')).trim();
    if (await reachable(url)) return { url, embedded: true, release: async () => undefined };
    await rm(urlFile, { force: true });
  }
  const db = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    port: config.embeddedPgPort,
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
  });
  if (opts.owner) await writeFile(urlFile, `${db.url}\n`, { mode: 0o600 });
  return {
    url: db.url,
    embedded: true,
    release: async () => {
      if (opts.owner) await rm(urlFile, { force: true });
      await db.stop();
    },
  };
}
