/**
 * The PostgreSQL pool: one per process, sized by config, with deadlines on connecting and on statements so a
 * stuck database cannot hold a call or a worker forever.
 */
import pg from 'pg';
import { withSuppressed } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  readonly connectionString: string;
  readonly max: number;
  readonly statementTimeoutMs?: number;
  readonly applicationName?: string;
  /** Where an idle connection's failure is reported; without one it becomes a process warning (stderr). */
  readonly logger?: Pick<Logger, 'warn'>;
}

// bigint (int8) columns hold RetailCRM ids, well below 2^53: read them as numbers.
pg.types.setTypeParser(20, (v: string) => Number(v));

export function createPool(opts: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: opts.statementTimeoutMs ?? 15_000,
    application_name: opts.applicationName ?? 'retailcrm-agi',
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener it would crash. The
  // pool drops that client and opens a new one when needed, so this is reported, not fatal.
  pool.on('error', (err) => {
    if (opts.logger) opts.logger.warn('database: an idle connection failed and was dropped', { err, pool: opts.applicationName ?? 'retailcrm-agi' });
    else process.emitWarning(err);
  });
  return pool;
}

/** A pool or one client of it: what a store function runs its SQL on (the caller's transaction, or not). */
export type Queryable = Pool | PoolClient;

export interface TransactionOptions {
  /** `begin read only`: the transaction may not write (the analytics). */
  readonly readOnly?: boolean;
}

function isPoolClient(db: Queryable): db is PoolClient {
  return typeof (db as Partial<PoolClient>).release === 'function';
}

/**
 * The one transaction helper: runs fn inside one transaction and commits, or rolls back on any error and rethrows
 * it. Given the pool, it takes a client for the transaction and returns it after; given a client (one holding a
 * session advisory lock, or the migrations' client), it runs the transaction on that client and keeps it.
 * A rollback that fails too rides on the rethrown error as `suppressed` (lib/errors.ts withSuppressed: the
 * error keeps its type and code, the log shows both), and a client the helper took is then destroyed rather than
 * returned to the pool in an unknown state.
 */
export async function inTransaction<T>(
  db: Queryable,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const owned = !isPoolClient(db);
  const client = isPoolClient(db) ? db : await db.connect();
  let broken: Error | undefined;
  try {
    try {
      await client.query(options.readOnly === true ? 'begin read only' : 'begin');
      const result = await fn(client);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        withSuppressed(err, rollbackErr);
      });
      throw err;
    }
  } finally {
    if (owned) client.release(broken);
  }
}
