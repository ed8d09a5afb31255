/**
 * Migrations: numbered SQL files in sql/, each applied once in its own transaction and recorded in
 * rcrm_migrations. A transaction-scoped advisory lock makes two instances starting at once safe: the second
 * waits, then finds the work done. A second run does nothing.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigrationError } from '../lib/errors.js';
import { inTransaction, type Pool } from './pool.js';

const LOCK_KEY = 7_361_540_221; // arbitrary, fixed: "retailcrm-agi migrations"

export const defaultSqlDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../sql');

export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

export async function readMigrations(dir: string = defaultSqlDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const id = Number(file.slice(0, 3));
    if (migrations.some((m) => m.id === id)) throw new MigrationError(`two migrations numbered ${id}`);
    migrations.push({ id, name: file, sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return migrations;
}

/** Applies pending migrations; returns the names applied by this call. */
export async function migrate(pool: Pool, dir: string = defaultSqlDir): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await client.query(`create table if not exists rcrm_migrations (
        id integer primary key, name text not null, applied_at timestamptz not null default now())`);
      const done = new Set(
        (await client.query<{ id: number }>('select id from rcrm_migrations')).rows.map((r) => r.id),
      );
      const latestKnown = migrations.at(-1)?.id ?? 0;
      for (const id of done) {
        if (id > latestKnown) {
          throw new MigrationError(`database has migration ${id}, newer than this version knows (${latestKnown})`);
        }
      }
      for (const m of migrations) {
        if (done.has(m.id)) continue;
        try {
          await inTransaction(client, async (tx) => {
            await tx.query(m.sql);
            await tx.query('insert into rcrm_migrations (id, name) values ($1, $2)', [m.id, m.name]);
          });
          applied.push(m.name);
        } catch (err) {
          throw new MigrationError(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
        }
      }
    } finally {
      // A failed unlock means a broken connection: the pool drops it and the session lock dies with it.
      await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch((err: unknown) => process.emitWarning(err instanceof Error ? err : String(err)));
    }
  } finally {
    client.release();
  }
  return applied;
}

/** The count of tables in the public schema: 0 for a new, empty database (what a restore needs). */
export async function countPublicTables(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    "select count(*)::int as n from information_schema.tables where table_schema = 'public'",
  );
  return rows[0]?.n ?? 0;
}
