/**
 * Call starts under load (issue 11): the call rows and claimed popup jobs of calls starting at the same moment go
 * to PostgreSQL in one statement (group commit), and nothing about a single call changes: a call already recorded
 * takes the careful path, a bad call fails alone, a call twice in one batch gets one popup. Real PostgreSQL.
 */
import { expect } from 'chai';
import { CallJournal, type CallStart } from '../../src/calls/call-journal.js';
import { callEventOf } from '../../src/calls/call-event.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import type { Pool } from '../../src/db/pool.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const ENT = '0367';

/** The pool, counting the statements sent through it (transactions count their connect). */
function counting(pool: Pool): { pool: Pool; statements: () => number } {
  let n = 0;
  const wrapped = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'query' || prop === 'connect') {
        return (...args: unknown[]) => {
          n++;
          return (target[prop] as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { pool: wrapped, statements: () => n };
}

function start(linkedid: string, enterprise = ENT): CallStart {
  return {
    enterprise,
    linkedid,
    direction: 'in',
    phone: '+375291234567',
    externalPhone: '17175550100',
    site: 'shop1',
    customerId: 42,
    ringCodes: ['101', '1,02'],
    startedAt: new Date('2026-12-07T10:00:00.123Z'),
  };
}
const popupOf = (c: CallStart) => callEventOf('in', { phone: c.phone, linkedid: c.linkedid, codes: c.ringCodes, externalPhone: c.externalPhone, site: c.site });

describe('call starts: group commit of call rows and claimed popups (real PostgreSQL)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await new EnterpriseStore(db.pool, createSecretBox('s'.repeat(40))).create({
      number: ENT, crmUrl: 'http://127.0.0.1:9', apiKey: 'k'.repeat(32), clientId: 'client-id-0123456789', country: 'BY', site: null,
    });
  });
  after(async () => {
    await db.drop();
  });

  // GIVEN 20 calls starting at once WHEN recorded THEN two statements (the first alone, the other 19 together), every
  // call row as given, and each popup job claimed by its own token
  it('records concurrent starts in one statement', async () => {
    const { pool, statements } = counting(db.pool);
    const journal = new CallJournal(pool);
    const calls = Array.from({ length: 20 }, (_, i) => start(`gc-${i}`));
    const claimed = await Promise.all(calls.map((c, i) => journal.recordStartClaimed(c, popupOf(c), `w#${i}`)));
    expect(statements()).to.equal(2);
    claimed.forEach((b, i) => {
      expect(b?.token).to.equal(`w#${i}`);
      expect(b?.jobs).to.have.length(1);
      expect((b?.jobs[0]?.payload as { event: { callExternalId: string } }).event.callExternalId).to.equal(`gc-${i}`);
    });
    const { rows } = await db.pool.query(
      `select c.linkedid, c.ring_codes, c.customer_id, c.started_at, c.site, j.locked_by, j.attempts
       from calls c join outbox_jobs j on j.job_key = 'call_event:' || c.enterprise || ':' || c.linkedid || ':in'
       where c.linkedid like 'gc-%' order by c.id`,
    );
    expect(rows).to.have.length(20);
    expect(rows[0]).to.deep.include({ linkedid: 'gc-0', ring_codes: ['101', '1,02'], customer_id: 42, site: 'shop1', locked_by: 'w#0', attempts: 1 });
    expect((rows[0] as { started_at: Date }).started_at.toISOString()).to.equal('2026-12-07T10:00:00.123Z');
  });

  // GIVEN a call /hangup recorded first, in a batch with new calls WHEN recorded THEN it gets no popup (careful path),
  // the others do
  it('leaves a call already recorded to the careful path', async () => {
    const journal = new CallJournal(db.pool);
    const ended = start('gc-ended');
    await db.pool.query(`insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at)
      values ($1, $2, $2, 'in', '+375291234567', now(), now())`, [ENT, ended.linkedid]);
    const calls = [start('gc-a'), ended, start('gc-b')];
    const claimed = await Promise.all(calls.map((c, i) => journal.recordStartClaimed(c, popupOf(c), `e#${i}`)));
    expect(claimed.map((b) => b?.token ?? null)).to.deep.equal(['e#0', null, 'e#2']);
    const { rows } = await db.pool.query(`select count(*)::int as n from outbox_jobs where job_key like '%:gc-ended:%'`);
    expect(rows[0]).to.deep.equal({ n: 0 });
  });

  // GIVEN a batch holding a call of an unknown enterprise (the statement fails) WHEN recorded THEN the other calls
  // still get their rows and popups, and only the bad call fails
  it('fails a bad call alone', async () => {
    const journal = new CallJournal(db.pool);
    const calls = [start('gc-x0'), start('gc-x1'), start('gc-bad', '9999'), start('gc-x3')];
    const results = await Promise.allSettled(calls.map((c, i) => journal.recordStartClaimed(c, popupOf(c), `b#${i}`)));
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value?.token : null))).to.deep.equal(['b#0', 'b#1', null, 'b#3']);
    expect(String((results[2] as PromiseRejectedResult).reason)).to.match(/foreign key/);
    const { rows } = await db.pool.query(`select linkedid from calls where linkedid like 'gc-x%' or linkedid = 'gc-bad' order by linkedid`);
    expect(rows.map((r: { linkedid: string }) => r.linkedid)).to.deep.equal(['gc-x0', 'gc-x1', 'gc-x3']);
  });

  // GIVEN the same call twice in one batch (two /incoming for one linkedid at once) WHEN recorded THEN one row and one
  // popup: the second gets none
  it('gives a call twice in one batch one popup', async () => {
    const journal = new CallJournal(db.pool);
    const calls = [start('gc-first'), start('gc-dup'), start('gc-dup')];
    const claimed = await Promise.all(calls.map((c, i) => journal.recordStartClaimed(c, popupOf(c), `d#${i}`)));
    expect(claimed.map((b) => b?.token ?? null)).to.deep.equal(['d#0', 'd#1', null]);
    const { rows } = await db.pool.query(`select count(*)::int as n from outbox_jobs where job_key like '%:gc-dup:%'`);
    expect(rows[0]).to.deep.equal({ n: 1 });
  });
});
