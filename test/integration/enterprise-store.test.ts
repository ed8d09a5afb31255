import { expect } from 'chai';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { ExtensionStore } from '../../src/db/extension-store.js';
import { InputError } from '../../src/lib/errors.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { withDb } from '../helpers/pg.js';

describe('enterprise and extension stores (real PostgreSQL)', () => {
  // GIVEN an enterprise WHEN stored THEN the API key is encrypted at rest and read back in clear
  it('encrypts the API key and clientId at rest', () =>
    withDb(async (db) => {
      const store = new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40)));
      await store.create({
        number: '0367',
        crmUrl: 'https://demo.retailcrm.ru',
        apiKey: 'SECRET-API-KEY',
        clientId: 'client-id-0123456789',
        country: 'BY',
        site: 'shop',
      });
      const { rows } = await db.pool.query('select * from enterprises');
      expect(JSON.stringify(rows)).to.not.contain('SECRET-API-KEY');
      expect(JSON.stringify(rows)).to.not.contain('client-id-0123456789');
      const e = await store.get('0367');
      expect(e).to.include({ apiKey: 'SECRET-API-KEY', clientId: 'client-id-0123456789', site: 'shop' });
      expect((await store.findByClientId('client-id-0123456789'))?.number).to.equal('0367');
      expect(await store.findByClientId('client-id-wrong')).to.equal(null);
      try {
        await store.create({ number: '0367', crmUrl: 'https://x.retailcrm.ru', apiKey: 'k', clientId: 'c', country: 'RU', site: null });
        expect.fail('duplicate accepted');
      } catch (err) {
        expect(err).to.be.instanceOf(InputError);
      }
      const updated = await store.update('0367', { settings: { autoCreateCustomers: false } });
      expect(updated.settings.autoCreateCustomers).to.equal(false);
      expect(updated.apiKey).to.equal('SECRET-API-KEY');
    }));

  // GIVEN an extension mapping WHEN a user moves to another extension THEN the old one is dropped
  it('keeps one extension per user', () =>
    withDb(async (db) => {
      const store = new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40)));
      await store.create({ number: '1', crmUrl: 'https://a.retailcrm.ru', apiKey: 'k', clientId: 'c', country: 'RU', site: null });
      const ext = new ExtensionStore(db.pool);
      await ext.set('1', '101', 7);
      await ext.set('1', '102', 8);
      await ext.set('1', '103', 7);
      expect(await ext.list('1')).to.deep.equal([
        { ext: '102', userId: 8 },
        { ext: '103', userId: 7 },
      ]);
    }));
});
