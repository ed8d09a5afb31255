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

/** Runs fn inside one transaction on one client; rolls back on any error. */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((rollbackErr: unknown) => withSuppressed(err, rollbackErr));
    throw err;
  } finally {
    client.release();
  }
}
