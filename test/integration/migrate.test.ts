import { expect } from 'chai';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/pg.js';

describe('migrations (real PostgreSQL)', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createEmptyDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  // GIVEN an empty database WHEN two instances migrate at the same moment THEN each migration is applied once
  it('is safe when two instances start at once', async () => {
    const other = createPool({ connectionString: db.url, max: 2 });
    try {
      const [a, b] = await Promise.all([migrate(db.pool), migrate(other)]);
      const all = (await readMigrations()).map((m) => m.name);
      expect([...a, ...b].sort()).to.deep.equal(all.sort());
      const { rows } = await db.pool.query<{ n: string }>('select count(*) as n from rcrm_migrations');
      expect(Number(rows[0]?.n)).to.equal(all.length);
    } finally {
      await other.end();
    }
  });

  // GIVEN a migrated database WHEN migrated again THEN nothing is applied
  it('does nothing the second time', async () => {
    await migrate(db.pool);
    expect(await migrate(db.pool)).to.deep.equal([]);
  });

  // GIVEN a database migrated by a newer version WHEN an older one starts THEN it refuses clearly
  it('refuses a database newer than the code', async () => {
    await migrate(db.pool);
    await db.pool.query("insert into rcrm_migrations (id, name) values (999, '999_future.sql')");
    try {
      await migrate(db.pool);
      expect.fail('should refuse');
    } catch (err) {
      expect((err as Error).message).to.match(/newer than this version/);
    }
  });
});
