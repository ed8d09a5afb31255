/** The pool reports an idle connection that dies (a PostgreSQL restart, an admin's pg_terminate_backend). */
import { expect } from 'chai';
import { createPool } from '../../src/db/pool.js';
import { waitFor } from '../helpers/async.js';
import { withDb } from '../helpers/pg.js';

describe('database pool: idle connection errors', () => {
  // GIVEN an idle pooled connection WHEN its backend is terminated THEN the failure is logged, not swallowed
  it('logs an idle connection that failed', async () => {
    await withDb(async (db) => {
      const warnings: { message: string; meta: Record<string, unknown> }[] = [];
      const logger = { warn: (message: string, meta: Record<string, unknown>) => warnings.push({ message, meta }) };
      const pool = createPool({ connectionString: db.url, max: 1, applicationName: 'idle-error-test', logger: logger as never });
      try {
        const { rows } = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
        await db.pool.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
        await waitFor('the idle error logged', () => warnings.length === 1);
        expect(warnings[0]?.message).to.match(/idle connection failed/);
        expect(warnings[0]?.meta['err']).to.be.instanceOf(Error);
        expect(warnings[0]?.meta['pool']).to.equal('idle-error-test');
      } finally {
        await pool.end();
      }
    });
  });
});
