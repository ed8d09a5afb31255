/**
 * The audit log through the real CLI process: administrative changes become rows (OS user, before → after,
 * secrets as fingerprints), the table refuses UPDATE and DELETE, and `audit verify` detects a row edited or
 * deleted by a superuser who disabled the trigger (exit 1, naming the row).
 */
import { expect } from 'chai';
import os from 'node:os';
import { AuditLog } from '../../src/audit/audit-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { rejection } from '../helpers/async.js';
import { runCliProcess, type CliProcessResult } from '../helpers/cli-exec.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'audit-test-secret-key-0123456789abcdef';
const OLD_KEY = 'old-api-key-0123456789';
const NEW_KEY = 'new-api-key-9876543210';

type Row = { id: number; actor: string; action: string; enterprise: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null };

describe('audit log (real CLI process)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    await new EnterpriseStore(db.pool, createSecretBox(SECRET)).create({
      number: '0367', crmUrl: 'https://shop.retailcrm.ru', apiKey: OLD_KEY, clientId: 'client-0367-abcdef', country: 'BY', site: null,
    });
  });
  afterEach(async () => {
    await db.drop();
  });

  const cli = (...args: string[]): Promise<CliProcessResult> =>
    runCliProcess(args, { DATABASE_URL: db.url, SECRET_KEY: SECRET, DATA_DIR: os.tmpdir(), LOG_LEVEL: 'error' });

  async function makeChanges(): Promise<void> {
    expect((await cli('extension', 'set', '--enterprise', '0367', '--ext', '101', '--user-id', '7')).code).to.equal(0);
    expect((await cli('enterprise', 'set', '--number', '0367', '--api-key', NEW_KEY)).code).to.equal(0);
    expect((await cli('pbx', 'set', '--enterprise', '0367', '--ami-host', '10.0.0.5', '--ami-user', 'crm', '--ami-secret', 'ami-s3cret-value')).code).to.equal(0);
  }

  // GIVEN three CLI changes WHEN listed THEN rows with the OS user, before → after and fingerprints only; verify passes
  it('records CLI changes with fingerprints, and verifies an intact chain', async () => {
    await makeChanges();
    const list = await cli('audit', 'list', '--enterprise', '0367', '--json');
    expect(list.code).to.equal(0);
    expect(list.stdout).not.to.contain(OLD_KEY);
    expect(list.stdout).not.to.contain(NEW_KEY);
    expect(list.stdout).not.to.contain('ami-s3cret-value');
    const rows = JSON.parse(list.stdout) as Row[];
    expect(rows.map((r) => r.action)).to.deep.equal(['extension.set', 'enterprise.set', 'pbx.set']);
    expect(rows[0]?.actor).to.contain(os.userInfo().username);
    expect(rows[0]?.after).to.deep.equal({ ext: '101', userId: 7 });
    const before = rows[1]?.before?.['apiKey'] as string;
    const after = rows[1]?.after?.['apiKey'] as string;
    expect(before).to.match(/^fp:[0-9a-f]{16}$/);
    expect(after).to.match(/^fp:[0-9a-f]{16}$/);
    expect(before).not.to.equal(after);
    expect(rows[2]?.after?.['secret']).to.match(/^fp:/);
    expect((await cli('audit', 'list', '--since', '2999-01-01')).stdout).to.contain('no audit entries');

    const verify = await cli('audit', 'verify');
    expect(verify.code, verify.stderr).to.equal(0);
    expect(verify.stdout).to.match(/audit log intact: 3 rows/);
  });

  // GIVEN the trigger WHEN a row is updated or deleted THEN the database refuses
  it('refuses UPDATE and DELETE', async () => {
    await makeChanges();
    expect(String(await rejection(db.pool.query("update audit_log set actor = 'someone else'")))).to.match(/append-only/);
    expect(String(await rejection(db.pool.query('delete from audit_log')))).to.match(/append-only/);
    expect(String(await rejection(db.pool.query('truncate audit_log')))).to.match(/append-only/);
  });

  // GIVEN a superuser who disables the trigger WHEN they edit a row THEN audit verify exits 1 naming that row
  it('detects an edited row', async () => {
    await makeChanges();
    const { rows } = await db.pool.query<{ id: number }>('select id from audit_log order by id');
    const second = rows[1]?.id;
    await db.pool.query('alter table audit_log disable trigger audit_log_no_change');
    await db.pool.query(`update audit_log set after = jsonb_set(after, '{country}', '"RU"') where id = $1`, [second]);
    await db.pool.query('alter table audit_log enable trigger audit_log_no_change');
    const verify = await cli('audit', 'verify');
    expect(verify.code).to.equal(1);
    expect(verify.stderr).to.contain(`audit log broken at row ${second}`);
    expect(verify.stderr).to.contain('edited');
  });

  // GIVEN a superuser who disables the trigger WHEN they delete a row THEN audit verify exits 1 naming the row after it
  it('detects a deleted row', async () => {
    await makeChanges();
    const { rows } = await db.pool.query<{ id: number }>('select id from audit_log order by id');
    await db.pool.query('alter table audit_log disable trigger audit_log_no_change');
    await db.pool.query('delete from audit_log where id = $1', [rows[0]?.id]);
    await db.pool.query('alter table audit_log enable trigger audit_log_no_change');
    const verify = await cli('audit', 'verify');
    expect(verify.code).to.equal(1);
    expect(verify.stderr).to.contain(`audit log broken at row ${rows[1]?.id}`);
  });

  // GIVEN two writers appending at once THEN the chain does not fork
  it('keeps one chain under concurrent appends', async () => {
    const log = new AuditLog(db.pool);
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append({ source: 'cli', actor: 't', action: `a${i}`, enterprise: null })));
    expect(await log.verify()).to.deep.include({ ok: true, count: 20 });
  });
});
