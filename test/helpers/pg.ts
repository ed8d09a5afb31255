/**
 * Real PostgreSQL for tests: a template database migrated once per run, and a fresh database cloned from it for
 * each test file or test (STYLE.md §20). TEST_DATABASE_URL points at a server where we may create databases;
 * by default the local one CI starts (127.0.0.1:5432, trust auth). When neither answers, the root hooks start an
 * embedded PostgreSQL for the run and point this module at it (`useAdminUrl`).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { createPool, type Pool } from '../../src/db/pool.js';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
let adminUrl = process.env['TEST_DATABASE_URL'] ?? DEFAULT_ADMIN_URL;

/** The server tests create their databases on (set once by the root hooks, before any test). */
export function useAdminUrl(url: string): void {
  adminUrl = url;
}
const runId = `${process.pid}_${randomBytes(3).toString('hex')}`;
let templatePromise: Promise<string> | undefined;

function urlFor(database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createTemplate(): Promise<string> {
  const name = `rcrm_tpl_${runId}`;
  await admin((c) => c.query(`create database ${name}`));
  const pool = createPool({ connectionString: urlFor(name), max: 2 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return name;
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: Pool;
  drop(): Promise<void>;
}

/** An empty database with no migrations applied (for migration tests). */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const name = `rcrm_t_${runId}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  return wrap(name);
}

/** A fresh, migrated database cloned from the run's template. */
export async function createTestDatabase(): Promise<TestDatabase> {
  templatePromise ??= createTemplate();
  const template = await templatePromise;
  const name = `rcrm_t_${runId}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`create database ${name} template ${template}`));
  return wrap(name);
}

function wrap(name: string): TestDatabase {
  const url = urlFor(name);
  const pool = createPool({ connectionString: url, max: 5 });
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      await admin((c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/** Runs fn with a fresh database and always drops it afterwards. */
export async function withDb<T>(fn: (db: TestDatabase) => Promise<T>): Promise<T> {
  const db = await createTestDatabase();
  try {
    return await fn(db);
  } finally {
    await db.drop();
  }
}

/** Drops the run's template; called from the root hook. */
export async function dropTemplate(): Promise<void> {
  if (!templatePromise) return;
  const template = await templatePromise.catch(() => undefined);
  templatePromise = undefined;
  if (template) await admin((c) => c.query(`drop database if exists ${template} with (force)`));
}
