/** The SECRET_KEY check (sql/007_key_check.sql, src/secrets/key-check.ts) against a real database. */
import { expect } from 'chai';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { keyCheckRecords } from '../../src/db/key-check-store.js';
import { SecretKeyMismatchError } from '../../src/lib/errors.js';
import { checkSecretKey } from '../../src/secrets/key-check.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { rejection } from '../helpers/async.js';
import { withDb } from '../helpers/pg.js';

const KEY_A = 'a'.repeat(40);
const KEY_B = 'b'.repeat(40);

describe('SECRET_KEY check (real PostgreSQL)', () => {
  // GIVEN a new database WHEN the first process starts THEN its key is recorded, and only that key passes afterwards
  it('records the first key and refuses another', () =>
    withDb(async (db) => {
      await checkSecretKey(keyCheckRecords(db.pool), createSecretBox(KEY_A), 'test');
      await checkSecretKey(keyCheckRecords(db.pool), createSecretBox(KEY_A), 'test');
      const err = await rejection(checkSecretKey(keyCheckRecords(db.pool), createSecretBox(KEY_B), 'from the environment'));
      expect(err).to.be.instanceOf(SecretKeyMismatchError);
      expect((err as Error).message).to.match(/^SECRET_KEY \(from the environment, key id \w{12}\) is not the key this database was set up with \(key id \w{12}\)/);
      const rows = await db.pool.query<{ key_id: string; check_mac: string }>('select key_id, check_mac from secret_key_check');
      expect(rows.rows).to.have.length(1);
      expect(JSON.stringify(rows.rows)).to.not.contain(KEY_A);
    }));

  // GIVEN a database from before 007 holding secrets sealed with key A WHEN started with key B THEN refused and nothing recorded
  it('checks a database from before the check against its stored secrets', () =>
    withDb(async (db) => {
      await new EnterpriseStore(db.pool, createSecretBox(KEY_A)).create({
        number: '0367', crmUrl: 'https://shop.retailcrm.ru', apiKey: 'abcdefghijkl12345', clientId: 'client-id-0123456789', country: 'BY', site: null,
      });
      const err = await rejection(checkSecretKey(keyCheckRecords(db.pool), createSecretBox(KEY_B), 'test'));
      expect(err).to.be.instanceOf(SecretKeyMismatchError);
      expect((err as Error).message).to.contain('(the key its stored API keys were encrypted with)');
      expect((await db.pool.query('select 1 from secret_key_check')).rowCount).to.equal(0);
      await checkSecretKey(keyCheckRecords(db.pool), createSecretBox(KEY_A), 'test');
      expect((await db.pool.query('select 1 from secret_key_check')).rowCount).to.equal(1);
    }));
});
