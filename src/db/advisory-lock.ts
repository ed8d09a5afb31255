/**
 * Session advisory locks by name: one holder at a time across every instance on the database (the history
 * poller and the reconciler each take one per enterprise). `pg_try_advisory_lock` never waits: a second holder
 * is told at once that the lock is taken. The lock lives as long as the session, so the connection is kept for
 * the whole of `fn`; if unlocking fails, the connection is destroyed, which ends the session and the lock.
 */
import type { Pool, PoolClient } from './pool.js';

export type Locked<T> = { readonly locked: true; readonly value: T } | { readonly locked: false };

export async function withSessionLock<T>(pool: Pool, name: string, fn: (client: PoolClient) => Promise<T>): Promise<Locked<T>> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock(hashtextextended($1, 0)) as ok', [name]);
    if (rows[0]?.ok !== true) return { locked: false };
    try {
      return { locked: true, value: await fn(client) };
    } finally {
      await client.query('select pg_advisory_unlock(hashtextextended($1, 0))', [name]).catch((err: unknown) => {
        broken = err instanceof Error ? err : new Error(String(err));
      });
    }
  } finally {
    client.release(broken);
  }
}
