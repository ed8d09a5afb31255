/**
 * Database backup and restore with PostgreSQL's own tools: `pg_dump --format=custom` (one consistent snapshot of
 * every table, sequence and trigger of the integration) and `pg_restore` into an empty database. The password
 * travels in a temporary 0600 passfile (libpq's `passfile` parameter), never on the command line; each run has a
 * deadline; a missing tool or a version mismatch ends with one sentence saying what to install.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BackupError } from '../lib/errors.js';
import { countPublicTables } from '../db/migrate.js';
import type { Pool } from '../db/pool.js';

/** Runs fn with the URL's password moved into a temporary passfile (removed afterwards). */
async function withPassfile<T>(url: string, fn: (url: string) => Promise<T>): Promise<T> {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  if (password === '') return fn(url);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-pgpass-'));
  try {
    const file = path.join(dir, 'pgpass');
    const esc = (v: string): string => v.replace(/([\\:])/g, '\\$1');
    await writeFile(file, `*:*:*:${esc(decodeURIComponent(u.username))}:${esc(password)}\n`, { mode: 0o600 });
    u.password = '';
    u.searchParams.set('passfile', file);
    return await fn(u.toString());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function run(tool: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs, killSignal: 'SIGTERM' });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 8_000) stderr += c.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new BackupError(`${tool} is not installed: install PostgreSQL's client tools (apt-get install postgresql-client), of the server's major version or newer`)
          : new BackupError(`${tool} could not start: ${err.message}`, { cause: err }),
      );
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else if (signal !== null) reject(new BackupError(`${tool} was stopped (${signal}): it ran past ${Math.round(timeoutMs / 1000)} s`));
      else if (/server version mismatch/i.test(stderr)) {
        reject(new BackupError(`${tool} is older than the database server: install the client tools of the server's version (${stderr.trim().split('\n')[0] ?? ''})`));
      } else reject(new BackupError(`${tool} failed (exit ${code ?? '?'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

export async function dumpDatabase(databaseUrl: string, outFile: string, timeoutMs: number): Promise<void> {
  await withPassfile(databaseUrl, (url) =>
    run('pg_dump', ['--format=custom', '--no-owner', '--no-privileges', `--file=${outFile}`, `--dbname=${url}`], timeoutMs),
  );
}

/** Restores into an empty database only: an existing installation is never overwritten. */
export async function restoreDatabase(pool: Pool, databaseUrl: string, fromFile: string, timeoutMs: number): Promise<void> {
  if ((await countPublicTables(pool)) > 0) {
    throw new BackupError('the target database is not empty: restore only into a new, empty database (createdb), then point DATABASE_URL at it');
  }
  await withPassfile(databaseUrl, (url) =>
    run('pg_restore', ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', `--dbname=${url}`, fromFile], timeoutMs),
  );
}
