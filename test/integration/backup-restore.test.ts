/**
 * `backup` and `restore` through the real CLI process: a backup (pg_dump, and the keyring sealed with a passphrase)
 * restored into a fresh empty database, then the service started on it with the restored key finds the customer,
 * decrypts the API key and serves a recording link issued before the backup. A wrong passphrase and a non-empty
 * target are refused. After `secret rotate`, the whole keyring goes into the backup and comes back.
 */
import { expect } from 'chai';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createRecordingLinks } from '../../src/recordings/recording-links.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { runCliProcess } from '../helpers/cli-exec.js';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { ENTERPRISE, startTestService, TEST_SECRET } from '../helpers/service.js';

const PHONE = '+375291234567';

describe('backup and restore (real CLI process, real service)', function () {
  this.timeout(90_000);
  const dbs: TestDatabase[] = [];
  let crm: FakeRetailCrm;
  let dir: string;
  before(async () => {
    crm = await FakeRetailCrm.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-backup-'));
  });
  after(async () => {
    for (const db of dbs) await db.drop();
    await crm.close();
    await rm(dir, { recursive: true, force: true });
  });

  // GIVEN a running installation WHEN backed up and restored into a fresh database THEN the service works on it with the restored key
  it('restores customers, API keys and recording links', async () => {
    const source = await createTestDatabase();
    dbs.push(source);
    const t = await startTestService({ db: source, crm });
    await new CustomerStore(source.pool).upsert({
      enterprise: ENTERPRISE, phone: PHONE, customerId: 42, name: 'Иван Петров', isCorporate: false, managerUserId: 7,
    });
    const link = createRecordingLinks({ publicUrl: t.config.publicUrl, recordingsDir: t.recordingsDir, box: createSecretBox(TEST_SECRET) })
      .urlFor(ENTERPRISE, 'in-1.wav');
    await t.stop();

    const passFile = path.join(dir, 'passphrase');
    await writeFile(passFile, 'correct horse battery staple\n', { mode: 0o600 });
    const dump = path.join(dir, 'rcrm.dump');
    const keyFile = path.join(dir, 'rcrm-key.json');
    const backup = await runCliProcess(
      ['backup', '--out', dump, '--secret-key-out', keyFile, '--passphrase-file', passFile],
      { DATABASE_URL: source.url, SECRET_KEY: TEST_SECRET, DATA_DIR: dir },
    );
    expect(backup.code, backup.stderr).to.equal(0);
    expect((await stat(keyFile)).mode & 0o777).to.equal(0o600);
    expect(await readFile(keyFile, 'utf8')).not.to.contain(TEST_SECRET);

    const target = await createEmptyDatabase();
    dbs.push(target);
    const dataDir = await mkdtemp(path.join(dir, 'data-'));
    const wrongPass = path.join(dir, 'wrong');
    await writeFile(wrongPass, 'not the passphrase at all');
    const refused = await runCliProcess(['restore', '--from', dump, '--secret-key-from', keyFile, '--passphrase-file', wrongPass], { DATABASE_URL: target.url, DATA_DIR: dataDir });
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain('wrong passphrase');

    const restore = await runCliProcess(['restore', '--from', dump, '--secret-key-from', keyFile, '--passphrase-file', passFile], { DATABASE_URL: target.url, DATA_DIR: dataDir });
    expect(restore.code, restore.stderr).to.equal(0);
    expect(restore.stdout).to.contain('stored API keys open with this SECRET_KEY');
    expect((await readFile(path.join(dataDir, 'secret.key'), 'utf8')).trim()).to.equal(TEST_SECRET);

    const again = await runCliProcess(['restore', '--from', dump], { DATABASE_URL: target.url, DATA_DIR: dataDir });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain('not empty');

    // The service on the restored database, with the key from the backup (SECRET_KEY unset: DATA_DIR/secret.key).
    const r = await startTestService({ db: target, crm, seed: false, env: { SECRET_KEY: '', DATA_DIR: dataDir } });
    try {
      const view = await r.service.directory.get(ENTERPRISE);
      expect(view?.enterprise.apiKey).to.equal(crm.apiKey);
      const found = await r.service.lookup.lookup(view!.enterprise, PHONE, { deadline: Date.now() + 2_000 });
      expect(found).to.deep.include({ status: 'FOUND', source: 'table' });
      expect(found.caller?.customerId).to.equal(42);
      await writeFile(path.join(r.recordingsDir, 'in-1.wav'), Buffer.alloc(64, 1));
      const res = await fetch(link.replace(r.config.publicUrl, `http://127.0.0.1:${r.service.httpPort}`), { signal: AbortSignal.timeout(5_000) });
      expect(res.status).to.equal(200);
      expect((await res.arrayBuffer()).byteLength).to.equal(64);
    } finally {
      await r.stop();
    }
  });

  // GIVEN a rotated installation WHEN backed up with --secret-key-out and restored elsewhere THEN the whole keyring comes back: old links and new secrets work
  it('backs up and restores the whole keyring after a rotation', async () => {
    const source = await createTestDatabase();
    dbs.push(source);
    const sourceData = await mkdtemp(path.join(dir, 'src-data-'));
    await new EnterpriseStore(source.pool, createSecretBox(TEST_SECRET)).create({
      number: ENTERPRISE, crmUrl: crm.url, apiKey: crm.apiKey, clientId: 'client-id-rotated-0367', country: 'BY', site: 'shop1',
    });
    const oldLink = createRecordingLinks({ publicUrl: 'https://pbx.example.com', recordingsDir: dir, box: createSecretBox(TEST_SECRET) }).urlFor(ENTERPRISE, 'in-1.wav');
    const sourceEnv = { DATABASE_URL: source.url, SECRET_KEY: TEST_SECRET, DATA_DIR: sourceData };
    const rotated = await runCliProcess(['secret', 'rotate'], sourceEnv);
    expect(rotated.code, rotated.stderr).to.equal(0);
    const newId = /new current key ([0-9a-f]{12})/.exec(rotated.stdout)?.[1] ?? '';

    const passFile = path.join(dir, 'passphrase-2');
    await writeFile(passFile, 'another long passphrase\n', { mode: 0o600 });
    const dump = path.join(dir, 'rotated.dump');
    const keyFile = path.join(dir, 'rotated-keyring.json');
    const backup = await runCliProcess(['backup', '--out', dump, '--secret-key-out', keyFile, '--passphrase-file', passFile], sourceEnv);
    expect(backup.code, backup.stderr).to.equal(0);
    expect(backup.stdout).to.contain(newId);
    const sealed = await readFile(keyFile, 'utf8');
    expect(sealed).not.to.contain(TEST_SECRET).and.not.contain(newId);

    const target = await createEmptyDatabase();
    dbs.push(target);
    const dataDir = await mkdtemp(path.join(dir, 'rotated-data-'));
    const restore = await runCliProcess(['restore', '--from', dump, '--secret-key-from', keyFile, '--passphrase-file', passFile], { DATABASE_URL: target.url, DATA_DIR: dataDir });
    expect(restore.code, restore.stderr).to.equal(0);
    expect(restore.stdout).to.contain(`restored into ${path.join(dataDir, 'keyring.json')}`).and.contain('stored API keys open');

    const r = await startTestService({ db: target, crm, seed: false, env: { SECRET_KEY: '', DATA_DIR: dataDir } });
    try {
      expect((await r.service.directory.get(ENTERPRISE))?.enterprise.apiKey).to.equal(crm.apiKey);
      await writeFile(path.join(r.recordingsDir, 'in-1.wav'), Buffer.alloc(64, 1));
      const res = await fetch(oldLink.replace(r.config.publicUrl, `http://127.0.0.1:${r.service.httpPort}`), { signal: AbortSignal.timeout(5_000) });
      expect(res.status).to.equal(200);
      await res.arrayBuffer();
    } finally {
      await r.stop();
    }
  });
});
