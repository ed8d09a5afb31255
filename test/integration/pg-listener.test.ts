/** Integration: PgListener, the dedicated LISTEN connection with reconnects, on a real PostgreSQL database. */
import { expect } from 'chai';
import { PgListener, type PgListenerOptions } from '../../src/db/pg-listener.js';
import { createPool } from '../../src/db/pool.js';
import { createLogger } from '../../src/lib/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/async.js';

const logger = createLogger({ level: 'error', silent: true });
const CHANNEL = 'rcrm_test_listener';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('PgListener (real PostgreSQL)', () => {
  let db: TestDatabase;
  const listeners: PgListener[] = [];
  let payloads: (string | undefined)[];
  let connected: boolean[];

  const make = (over: Partial<PgListenerOptions> = {}): PgListener => {
    const l = new PgListener({
      pool: db.pool,
      channel: CHANNEL,
      logger,
      label: 'test',
      initialBackoffMs: 20,
      onNotification: (p) => payloads.push(p),
      onConnected: (reconnected) => connected.push(reconnected),
      ...over,
    });
    listeners.push(l);
    return l;
  };

  /** Sessions of this database that have run a LISTEN (pg_stat_activity keeps an idle session's last query). */
  const listenSessions = async (): Promise<number> => {
    const { rows } = await db.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen %'`,
    );
    return rows[0]?.n ?? 0;
  };

  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });
  beforeEach(() => {
    payloads = [];
    connected = [];
  });
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((l) => l.stop()));
  });

  // GIVEN a bad channel name WHEN constructed THEN it refuses instead of interpolating it into LISTEN
  it('validates the channel name', () => {
    for (const channel of ['', 'Upper', '1abc', 'rcrm; drop table outbox_jobs', 'a-b', '"quoted"']) {
      expect(() => make({ channel }), channel).to.throw(RangeError);
    }
  });

  // GIVEN a started listener WHEN something is notified on its channel (and on another) THEN only its own arrive, in order
  it('delivers notifications on its channel', async () => {
    const l = make();
    await l.start();
    expect(l.listening).to.equal(true);
    expect(l.backendPid).to.be.a('number');
    expect(connected).to.deep.equal([false]);
    await db.pool.query('select pg_notify($1, $2)', ['rcrm_other_channel', 'not for us']);
    await db.pool.query('select pg_notify($1, $2)', [CHANNEL, 'one']);
    await db.pool.query('select pg_notify($1, $2)', [CHANNEL, '']);
    await waitFor('both payloads', () => expect(payloads).to.deep.equal(['one', '']));
  });

  // GIVEN a listener whose connection is killed WHEN it reconnects THEN onConnected(true) fires and notifications flow again
  it('reconnects after pg_terminate_backend', async () => {
    const l = make();
    await l.start();
    const pid = l.backendPid;
    expect(pid).to.be.a('number');
    await db.pool.query('select pg_terminate_backend($1)', [pid]);
    await waitFor('a new listening connection', () => {
      expect(l.listening).to.equal(true);
      expect(l.backendPid).to.be.a('number').and.not.equal(pid);
      return true;
    });
    expect(connected).to.deep.equal([false, true]);
    await db.pool.query('select pg_notify($1, $2)', [CHANNEL, 'after']);
    await waitFor('the payload after the reconnect', () => expect(payloads).to.deep.equal(['after']));
  });

  // GIVEN a callback that throws WHEN notified THEN the listener survives and keeps delivering
  it('survives a throwing callback', async () => {
    let calls = 0;
    const l = make({
      onNotification: () => {
        calls++;
        throw new Error('owner bug');
      },
    });
    await l.start();
    await db.pool.query('select pg_notify($1, $2)', [CHANNEL, 'a']);
    await db.pool.query('select pg_notify($1, $2)', [CHANNEL, 'b']);
    await waitFor('the second notification', () => expect(calls).to.equal(2));
    expect(l.listening).to.equal(true);
  });

  // GIVEN a killed connection and a long backoff WHEN stop() is called while the reconnect is pending THEN no timer, no client, no reconnect
  it('stop() during a pending reconnect leaves no timer and no client', async () => {
    const l = make({ initialBackoffMs: 60_000 });
    await l.start();
    await db.pool.query('select 1'); // an idle pooled client (and its idle timer) exists before counting
    const before = timers();
    await db.pool.query('select pg_terminate_backend($1)', [l.backendPid]);
    await waitFor('the listener to notice the lost connection', () => expect(l.listening).to.equal(false));
    expect(timers()).to.equal(before + 1); // the reconnect timer
    await l.stop();
    expect(timers()).to.equal(before);
    expect(l.listening).to.equal(false);
    expect(l.backendPid).to.equal(undefined);
    await waitFor('no LISTEN session left', async () => expect(await listenSessions()).to.equal(0));
    expect(connected).to.deep.equal([false]);
  });

  // GIVEN a connect attempt in flight WHEN stop() is called THEN it waits for the attempt and destroys its connection
  it('stop() waits for a connect attempt in flight and destroys its connection', async () => {
    const l = make();
    const started = l.start();
    await l.stop();
    await started;
    expect(l.listening).to.equal(false);
    await waitFor('no LISTEN session left', async () => expect(await listenSessions()).to.equal(0));
    expect(connected).to.deep.equal([]);
  });

  // GIVEN a started listener WHEN stopped THEN its connection is destroyed, not returned to the pool with LISTEN on it
  it('stop() destroys the listening connection', async () => {
    const l = make();
    await l.start();
    const total = db.pool.totalCount;
    await l.stop();
    expect(db.pool.totalCount).to.equal(total - 1);
    await waitFor('no LISTEN session left', async () => expect(await listenSessions()).to.equal(0));
  });

  // GIVEN a database that cannot be reached WHEN started THEN start() resolves (a retry is scheduled) and stop() ends the retries
  it('does not throw when the first connect fails, and stop() ends the retries', async () => {
    const url = new URL(db.url);
    url.port = '1';
    const deadPool = createPool({ connectionString: url.toString(), max: 1 });
    try {
      let attempts = 0;
      const counting = new Proxy(deadPool, {
        get: (target, prop, receiver) => (prop === 'connect' ? () => (attempts++, target.connect()) : Reflect.get(target, prop, receiver)),
      });
      const l = make({ pool: counting, initialBackoffMs: 10, maxBackoffMs: 40 });
      await l.start();
      expect(l.listening).to.equal(false);
      await waitFor('a few retries, all failing', () => attempts >= 3);
      await l.stop();
      expect(connected).to.deep.equal([]);
    } finally {
      await deadPool.end();
    }
  });
});
