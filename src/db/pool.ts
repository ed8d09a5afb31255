/**
 * The PostgreSQL pool: one per process, sized by config, with deadlines on connecting and on statements so a
 * stuck database cannot hold a call or a worker forever.
 */
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  readonly connectionString: string;
  readonly max: number;
  readonly statementTimeoutMs?: number;
  readonly applicationName?: string;
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
  // An idle client that loses its connection emits 'error' on the pool; without a listener it would crash.
  pool.on('error', () => undefined);
  return pool;
}

/** A pool or one client of it: what a store function runs its SQL on (the caller's transaction, or not). */
export type Queryable = Pool | PoolClient;

export interface TransactionOptions {
  /** `begin read only`: the transaction may not write (the analytics). */
  readonly readOnly?: boolean;
  /** Where a failed rollback is reported (with the error that caused it); without one, a process warning. */
  readonly logger?: { error(msg: string, meta?: Record<string, unknown>): void };
}

function isPoolClient(db: Queryable): db is PoolClient {
  return typeof (db as Partial<PoolClient>).release === 'function';
}

/**
 * The one transaction helper: runs fn inside one transaction and commits, or rolls back on any error and rethrows
 * it. Given the pool, it takes a client for the transaction and returns it after; given a client (one holding a
 * session advisory lock, or the migrations' client), it runs the transaction on that client and keeps it.
 * A rollback that fails too is reported, never swallowed, and a client the helper took is then destroyed rather
 * than returned to the pool in an unknown state; the error thrown is always fn's (or begin's or commit's).
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
        reportFailedRollback(broken, err, options);
      });
      throw err;
    }
  } finally {
    if (owned) client.release(broken);
  }
}

function reportFailedRollback(rollbackErr: Error, cause: unknown, options: TransactionOptions): void {
  if (options.logger) {
    options.logger.error('transaction rollback failed', { err: rollbackErr, cause });
    return;
  }
  const why = cause instanceof Error ? cause.message : String(cause);
  process.emitWarning(`transaction rollback failed: ${rollbackErr.message} (rolling back after: ${why})`, {
    type: 'TransactionRollbackWarning',
    detail: rollbackErr.stack,
  });
}
