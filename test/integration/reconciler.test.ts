/**
 * Integration: the reconciler's store and lock on real PostgreSQL, with CDR rows as cdr_pgsql writes them. Which
 * calls a pass finds, one reconciler per enterprise at a time, no duplicate when /hangup or another instance
 * records the same call, unknown enterprises logged once, and `calls reconcile` by hand.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { expect } from 'chai';
import { runCli } from '../../src/cli.js';
import { CallJournal } from '../../src/calls/call-journal.js';
import { EnterpriseDirectory } from '../../src/calls/enterprise-directory.js';
import { withSessionLock } from '../../src/db/advisory-lock.js';
import { CustomerStore } from '../../src/db/customer-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { ExtensionStore } from '../../src/db/extension-store.js';
import { createLogger } from '../../src/lib/logger.js';
import { CdrStore } from '../../src/reconcile/cdr-store.js';
import { ReconcileMetrics } from '../../src/reconcile/reconcile-metrics.js';
import { Reconciler } from '../../src/reconcile/reconciler.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'reconcile-test-secret-key-0123456789abc';
const ENTERPRISE = '0367';
const NOW = Date.parse('2026-12-06T12:00:00Z');
const T = NOW / 1000;
const GRACE_MS = 60_000;

describe('reconciler on real PostgreSQL', () => {
  let db: TestDatabase;
  const logLines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'info',
    stream: new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    }),
  });

  before(async () => {
    db = await createTestDatabase();
    const enterprises = new EnterpriseStore(db.pool, createSecretBox(SECRET));
    await enterprises.create({ number: ENTERPRISE, crmUrl: 'https://shop.retailcrm.ru', apiKey: 'abcdefghijkl', clientId: 'client-0367', country: 'BY', site: 'shop1', settings: { crmTimezone: 'UTC' } });
    const extensions = new ExtensionStore(db.pool);
    await extensions.set(ENTERPRISE, '101', 11);
    await extensions.set(ENTERPRISE, '102', 12);
  });
  after(async () => {
    logger.close();
    await db.drop();
  });
  beforeEach(async () => {
    await db.pool.query('delete from asterisk_cdr; delete from outbox_jobs; delete from calls');
    logLines.length = 0;
  });

  function reconciler(metrics?: ReconcileMetrics, journal?: Partial<CallJournal>): Reconciler {
    const enterprises = new EnterpriseStore(db.pool, createSecretBox(SECRET));
    const real = new CallJournal(db.pool);
    return new Reconciler({
      pool: db.pool,
      enterprises,
      directory: new EnterpriseDirectory(enterprises, new ExtensionStore(db.pool)),
      journal: {
        find: journal?.find ?? ((e, l) => real.find(e, l)),
        recordEnd: journal?.recordEnd ?? ((end) => real.recordEnd(end)),
        requestCustomer: (...a) => real.requestCustomer(...a),
      },
      customers: new CustomerStore(db.pool),
      recordingsDir: '/nonexistent-recordings',
      logger,
      intervalMs: 0,
      windowMs: 86_400_000,
      graceMs: GRACE_MS,
      now: () => NOW,
      ...(metrics ? { metrics } : {}),
    });
  }

  /** A call's CDR as cdr_pgsql writes it: answered by 101 `endAgo` seconds ago. */
  async function insertCdr(linkedid: string, opts: { endAgo: number; enterprise?: string | null; phone?: string; disposition?: string }): Promise<void> {
    const end = T - opts.endAgo;
    const answered = (opts.disposition ?? 'ANSWERED') === 'ANSWERED';
    await db.pool.query(
      `insert into asterisk_cdr (src, dst, channel, dstchannel, lastapp, start, answer, "end", duration, billsec, disposition,
         uniqueid, linkedid, sequence, rcrm_enterprise, rcrm_direction)
       values ($1, '17175550100', 'IAX2/trunk-1', 'IAX2/101-2', 'Queue', $2, $3, $4, 20, $5, $6, $7, $7, 1, $8, 'in')`,
      [opts.phone ?? '375291234567', end - 20, answered ? end - 15 : 0, end, answered ? 15 : 0, opts.disposition ?? 'ANSWERED', linkedid,
        opts.enterprise === undefined ? ENTERPRISE : opts.enterprise],
    );
  }

  async function uploads(): Promise<{ linkedid: string; payload: Record<string, unknown> }[]> {
    const { rows } = await db.pool.query<{ linkedid: string; payload: Record<string, unknown> }>(
      `select payload->'call'->>'externalId' as linkedid, payload from outbox_jobs where kind = 'call_upload' order by id`,
    );
    return rows;
  }

  // GIVEN calls ended long ago, within the grace period, of another enterprise, already ended in the journal, and
  // half-recorded WHEN the store looks THEN only the old ones with no ended call, oldest first
  it('finds the calls with no ended call in the journal, past the grace period', async () => {
    await insertCdr(`${T - 600}.1`, { endAgo: 500 });
    await insertCdr(`${T - 300}.2`, { endAgo: 30 }); // /hangup's turn still
    await insertCdr(`${T - 900}.3`, { endAgo: 800, enterprise: '0999' });
    await insertCdr(`${T - 700}.4`, { endAgo: 600 });
    await insertCdr(`${T - 800}.5`, { endAgo: 700 });
    await insertCdr(`${T - 800}.5`, { endAgo: 10 }); // a leg of call 5 still within the grace period
    await insertCdr(`${T - 400}.6`, { endAgo: 300 });
    await db.pool.query(
      `insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at)
       values ($1, $2, $2, 'in', '+375291234567', now(), now()), ($1, $3, $3, 'in', '+375291234567', now(), null)`,
      [ENTERPRISE, `${T - 700}.4`, `${T - 400}.6`],
    );
    const store = new CdrStore(db.pool);
    const window = { fromSec: T - 86_400, untilSec: T - GRACE_MS / 1000 };
    expect(await store.unrecorded(ENTERPRISE, window, 100)).to.deep.equal([`${T - 600}.1`, `${T - 400}.6`]);
    expect(await store.unrecorded(ENTERPRISE, window, 1)).to.deep.equal([`${T - 600}.1`]);
    expect(await store.unknownEnterprises(window, 100)).to.deep.equal([{ enterprise: '0999', linkedid: `${T - 900}.3` }]);
  });

  // GIVEN a PBX host writing into its own schema (docs/reconcile.md: a child table of asterisk_cdr) WHEN a pass
  // runs THEN its calls are found like the others
  it('reads the CDRs of a PBX host writing into its own schema', async () => {
    await db.pool.query('create schema pbx1; create table pbx1.asterisk_cdr () inherits (public.asterisk_cdr)');
    try {
      await db.pool.query(
        `insert into pbx1.asterisk_cdr (src, dst, channel, dstchannel, lastapp, start, answer, "end", duration, billsec,
           disposition, linkedid, sequence, rcrm_enterprise, rcrm_direction)
         values ('375291234567', '17175550100', 'IAX2/trunk-1', 'IAX2/102-2', 'Dial', $1, $2, $3, 20, 10, 'ANSWERED', $4, 1, $5, 'in')`,
        [T - 520, T - 510, T - 500, `pbx1-${T - 520}.7`, ENTERPRISE],
      );
      const pass = await reconciler().reconcileEnterprise(ENTERPRISE);
      expect(pass.reconciled && pass.calls.map((c) => [c.linkedid, c.outcome, c.manager])).to.deep.equal([[`pbx1-${T - 520}.7`, 'recorded', '102']]);
    } finally {
      await db.pool.query('drop schema pbx1 cascade');
    }
  });

  // GIVEN a missed call WHEN reconciled THEN a reconciled call row, an upload job, no popup, and the counters
  it('records a call once, marked reconciled, counted', async () => {
    const linkedid = `${T - 600}.1`;
    await insertCdr(linkedid, { endAgo: 500 });
    const registry = new Registry();
    const r = reconciler(new ReconcileMetrics(registry));
    const pass = await r.reconcileEnterprise(ENTERPRISE);
    expect(pass).to.deep.include({ reconciled: true });
    expect(pass.reconciled && pass.calls.map((c) => [c.linkedid, c.outcome, c.result, c.manager])).to.deep.equal([[linkedid, 'recorded', 'answered', '101']]);
    const again = await r.reconcileEnterprise(ENTERPRISE);
    expect(again.reconciled && again.calls).to.deep.equal([]);
    const { rows } = await db.pool.query('select reconciled, result, duration_sec, manager_code from calls where linkedid = $1', [linkedid]);
    expect(rows).to.deep.equal([{ reconciled: true, result: 'answered', duration_sec: 15, manager_code: '101' }]);
    expect((await uploads()).map((u) => u.linkedid)).to.deep.equal([linkedid]);
    const { rows: events } = await db.pool.query(`select 1 from outbox_jobs where kind = 'call_event'`);
    expect(events).to.have.length(0);
    const text = (await registry.metrics()).split('\n');
    expect(text).to.include(`rcrm_reconciled_calls_total{enterprise="0367"} 1`);
    expect(text).to.include(`rcrm_reconcile_passes_total{enterprise="0367",outcome="done"} 2`);
  });

  // GIVEN another session holds the enterprise's reconcile lock WHEN a pass starts THEN it leaves the enterprise alone
  it('one reconciler per enterprise at a time', async () => {
    await insertCdr(`${T - 600}.1`, { endAgo: 500 });
    const registry = new Registry();
    const inner = await withSessionLock(db.pool, `rcrm-reconcile:${ENTERPRISE}`, () => reconciler(new ReconcileMetrics(registry)).reconcileEnterprise(ENTERPRISE));
    expect(inner).to.deep.equal({ locked: true, value: { reconciled: false, reason: 'locked' } });
    expect((await registry.metrics()).split('\n')).to.include(`rcrm_reconcile_passes_total{enterprise="0367",outcome="locked"} 1`);
    expect(await uploads()).to.have.length(0);
  });

  // GIVEN ten calls WHEN two reconcilers (two instances) pass at once THEN each call is recorded once
  it('two reconcilers at once: no duplicates', async () => {
    for (let i = 0; i < 10; i++) await insertCdr(`${T - 600}.${i}`, { endAgo: 500 - i, phone: `37529123450${i}` });
    const [a, b] = [new Registry(), new Registry()];
    await Promise.all([reconciler(new ReconcileMetrics(a)).reconcileEnterprise(ENTERPRISE), reconciler(new ReconcileMetrics(b)).reconcileEnterprise(ENTERPRISE)]);
    const count = async (r: Registry): Promise<number> =>
      Number((await r.metrics()).split('\n').find((l) => l.startsWith('rcrm_reconciled_calls_total{'))?.split(' ').pop() ?? 0);
    expect((await count(a)) + (await count(b))).to.equal(10);
    expect((await uploads()).map((u) => u.linkedid)).to.have.members(Array.from({ length: 10 }, (_, i) => `${T - 600}.${i}`));
    const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from calls');
    expect(rows[0]?.n).to.equal(10);
  });

  // GIVEN /hangup records the call just as the reconciler reaches it WHEN the reconciler records it too THEN /hangup's
  // record stands: one call, one upload, not reconciled
  it('a /hangup racing the reconciler wins, nothing doubled', async () => {
    const linkedid = `${T - 600}.1`;
    await insertCdr(linkedid, { endAgo: 500 });
    const journal = new CallJournal(db.pool);
    const racing = reconciler(undefined, {
      find: async (e, l) => {
        // /hangup commits between the pass's query and its record
        await db.pool.query(
          `insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at, result)
           values ($1, $2, $2, 'in', '+375291234567', now(), now(), 'answered')`,
          [e, l],
        );
        return journal.find(e, l);
      },
    });
    const pass = await racing.reconcileEnterprise(ENTERPRISE);
    expect(pass.reconciled && pass.calls.map((c) => c.outcome)).to.deep.equal(['already']);
    const { rows } = await db.pool.query('select reconciled from calls');
    expect(rows).to.deep.equal([{ reconciled: false }]);
    expect(await uploads()).to.have.length(0);
  });

  // GIVEN one call that cannot be recorded WHEN a pass runs THEN the others are recorded, it is tried next pass
  it('one failing call does not hold back the others', async () => {
    await insertCdr(`${T - 700}.1`, { endAgo: 600 });
    await insertCdr(`${T - 600}.2`, { endAgo: 500 });
    const real = new CallJournal(db.pool);
    let broken = true;
    const r = reconciler(undefined, {
      recordEnd: async (end) => {
        if (broken && end.linkedid === `${T - 700}.1`) throw new Error('disk full');
        return real.recordEnd(end);
      },
    });
    const first = await r.reconcileEnterprise(ENTERPRISE);
    expect(first.reconciled && first.calls.map((c) => [c.linkedid, c.outcome])).to.deep.equal([[`${T - 700}.1`, 'failed'], [`${T - 600}.2`, 'recorded']]);
    expect(logLines.filter((l) => l['message'] === 'cannot reconcile a call').map((l) => l['call'])).to.deep.equal([`${T - 700}.1`]);
    broken = false;
    const second = await r.reconcileEnterprise(ENTERPRISE);
    expect(second.reconciled && second.calls.map((c) => [c.linkedid, c.outcome])).to.deep.equal([[`${T - 700}.1`, 'recorded']]);
  });

  // GIVEN CDRs naming an enterprise nobody knows WHEN passes run THEN one log line per call, however many passes
  it('logs a CDR of an unknown enterprise once', async () => {
    await insertCdr(`${T - 600}.1`, { endAgo: 500, enterprise: '0999' });
    const r = reconciler();
    await r.reconcileAll();
    await r.reconcileAll();
    await r.reconcileAll();
    const lines = logLines.filter((l) => l['message'] === 'CDR of an unknown enterprise ignored');
    expect(lines.map((l) => [l['enterprise'], l['call']])).to.deep.equal([['0999', `${T - 600}.1`]]);
    expect(await uploads()).to.have.length(0);
  });

  // GIVEN a call the journal lacks WHEN an operator runs `calls reconcile` THEN one line for it and a summary; a
  // second run finds nothing
  it('calls reconcile by hand', async () => {
    const linkedid = `${Math.floor(Date.now() / 1000) - 7200}.1`;
    const end = Date.now() / 1000 - 3600;
    await db.pool.query(
      `insert into asterisk_cdr (src, dst, channel, dstchannel, lastapp, start, answer, "end", duration, billsec, disposition,
         linkedid, sequence, rcrm_enterprise, rcrm_direction)
       values ('375291234567', '17175550100', 'IAX2/trunk-1', 'IAX2/102-2', 'Dial', $1, 0, $2, 20, 0, 'BUSY', $3, 1, $4, 'in')`,
      [end - 20, end, linkedid, ENTERPRISE],
    );
    const env = { DATABASE_URL: db.url, SECRET_KEY: SECRET, DATA_DIR: '/nonexistent-not-used' };
    const run = async (...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
      return { code, out, err };
    };
    const first = await run('calls', 'reconcile', '--enterprise', ENTERPRISE, '--since', '3h');
    expect(first.code, first.err.join('\n')).to.equal(0);
    expect(first.out[0]).to.match(new RegExp(`\\t${linkedid.replace('.', '\\.')}\\tin\\t\\+375291234567\\tbusy\\t102\\ttalk 0s\\twaiting 20s\\tno recording\\trecorded$`));
    expect(first.out[1]).to.match(/^1 call\(s\) missing from the journal .*: 1 recorded, 0 already recorded meanwhile$/);
    const second = await run('calls', 'reconcile', '--enterprise', ENTERPRISE, '--since', '3h');
    expect(second.out).to.have.length(1);
    expect(second.out[0]).to.match(/^no call missing from the journal/);
    expect((await run('calls', 'reconcile', '--enterprise', ENTERPRISE, '--since', '30m')).out[0]).to.match(/^no call missing from the journal/);
    expect((await run('calls', 'reconcile', '--enterprise', '4242', '--since', '1h')).code).to.equal(2);
    expect((await run('calls', 'reconcile', '--enterprise', ENTERPRISE, '--since', 'yesterday')).code).to.equal(2);
  });
});
