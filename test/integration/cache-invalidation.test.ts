/** Integration: cross-instance cache invalidation over LISTEN/NOTIFY on one real PostgreSQL database. */
import { expect } from 'chai';
import { inTransaction } from '../../src/db/pool.js';
import { createLogger } from '../../src/lib/logger.js';
import {
  InvalidationListener,
  invalidationPayloads,
  parseInvalidation,
  publishInvalidation,
  type InvalidatedPhones,
} from '../../src/sync/cache-invalidation.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/async.js';

const logger = createLogger({ level: 'error', silent: true });

describe('cache invalidation payloads (pure)', () => {
  // GIVEN 2,000 phones WHEN encoded THEN several payloads, each under PostgreSQL's 8000-byte limit, covering all phones once
  it('splits large changes under the NOTIFY limit', () => {
    const phones = Array.from({ length: 2_000 }, (_, i) => `+37529${String(1_000_000 + i)}`);
    const payloads = invalidationPayloads('0367', phones);
    expect(payloads.length).to.be.greaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).to.be.lessThan(8_000);
    expect(payloads.flatMap((p) => parseInvalidation(p)?.phones as string[])).to.deep.equal(phones);
  });

  // GIVEN garbage on the channel WHEN parsed THEN null; GIVEN 'all' THEN it round-trips
  it('ignores what is not ours and round-trips "all"', () => {
    expect(parseInvalidation('nope')).to.equal(null);
    expect(parseInvalidation('{"p":[]}')).to.equal(null);
    expect(parseInvalidation(invalidationPayloads('0367', 'all')[0])).to.deep.equal({ enterprise: '0367', phones: 'all' });
    expect(invalidationPayloads('0367', [])).to.deep.equal([]);
  });
});

describe('cache invalidation across instances (real PostgreSQL)', () => {
  let db: TestDatabase;
  const listeners: InvalidationListener[] = [];
  let seenA: [string, InvalidatedPhones][];
  let seenB: [string, InvalidatedPhones][];
  let missedA: number;

  const listen = async (seen: [string, InvalidatedPhones][], onMissed?: () => void): Promise<InvalidationListener> => {
    const l = new InvalidationListener({
      pool: db.pool,
      logger,
      initialBackoffMs: 20,
      onInvalidate: (e, phones) => seen.push([e, phones]),
      ...(onMissed ? { onMissed } : {}),
    });
    listeners.push(l);
    await l.start();
    return l;
  };

  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });
  beforeEach(() => {
    seenA = [];
    seenB = [];
    missedA = 0;
  });
  afterEach(async () => {
    await Promise.all(listeners.splice(0).map((l) => l.stop()));
  });

  // GIVEN two instances listening WHEN one publishes a change THEN both callbacks (the publisher's included) get it
  it('delivers one publish to every listener', async () => {
    await listen(seenA);
    await listen(seenB);
    await publishInvalidation(db.pool, '0367', ['+375291111111', '+375292222222']);
    await waitFor('both listeners to hear the phones', () => {
      expect(seenA).to.deep.equal([['0367', ['+375291111111', '+375292222222']]]);
      expect(seenB).to.deep.equal(seenA);
      return true;
    });
  });

  // GIVEN a publish inside a transaction WHEN it rolls back THEN nothing arrives; WHEN another commits THEN it arrives
  it('sends at commit and never on rollback', async () => {
    await listen(seenA);
    await inTransaction(db.pool, async (tx) => {
      await publishInvalidation(tx, '0367', ['+375290000000']);
      throw new Error('rolled back');
    }).catch(() => undefined);
    await inTransaction(db.pool, (tx) => publishInvalidation(tx, '0367', 'all'));
    await waitFor('the all-phones invalidation', () => expect(seenA).to.deep.equal([['0367', 'all']]));
  });

  // GIVEN a listener whose connection is killed with pg_terminate_backend WHEN it reconnects THEN it reports the gap and hears later publishes
  it('reconnects after its connection is killed', async () => {
    const a = await listen(seenA, () => missedA++);
    const pid = a.backendPid;
    expect(pid).to.be.a('number');
    await db.pool.query('select pg_terminate_backend($1)', [pid]);
    await waitFor('a new listening connection', () => {
      expect(a.listening).to.equal(true);
      expect(a.backendPid).to.not.equal(pid);
      return true;
    });
    expect(missedA).to.equal(1);
    await publishInvalidation(db.pool, '0367', ['+375293333333']);
    await waitFor('the publish after the reconnect', () => expect(seenA).to.deep.equal([['0367', ['+375293333333']]]));
  });

  // GIVEN 2,000 changed phones WHEN published THEN the listener receives all of them across several messages
  it('delivers large changes in pieces', async () => {
    await listen(seenA);
    const phones = Array.from({ length: 2_000 }, (_, i) => `+37529${String(2_000_000 + i)}`);
    await publishInvalidation(db.pool, '0367', phones);
    await waitFor('all 2,000 phones', () => expect(seenA.flatMap(([, p]) => p as string[])).to.deep.equal(phones));
  });
});
