/**
 * `serve` as the real process on SIGTERM: it stops accepting, waits for a live FastAGI call, then exits 0; a
 * second SIGTERM forces the exit. Asterisk is played by hand here (the env block of a recorded Asterisk 22
 * session, then a command left unanswered), so the call stays live exactly as long as the test wants.
 */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { enqueueJob } from '../../src/outbox/enqueue.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { waitFor } from '../helpers/async.js';
import { startServe, type ServeProcess } from '../helpers/cli-process.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'serve-shutdown-secret-key-0123456789abc';
const UPLOAD = '/api/v5/telephony/calls/upload';

interface HandCall {
  /** The next command line the service sends. */
  nextCommand(): Promise<string>;
  answer(line: string): void;
  /** Answers every further command with `200 result=0` until the service closes the connection; how many. */
  answerUntilClosed(): Promise<number>;
  destroy(): void;
}

async function openCall(port: number): Promise<HandCall> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const commands: string[] = [];
  const waiters: (() => void)[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  createInterface({ input: socket }).on('line', (line) => {
    commands.push(line);
    waiters.splice(0).forEach((w) => w());
  });
  const flow = loadAgiFlow('inbound_answered__incoming');
  socket.write(`${flow.envLines.join('\n')}\n\n`);
  const nextCommand = async (): Promise<string> => {
    while (commands.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
    return commands.shift() ?? '';
  };
  return {
    nextCommand,
    answer: (line) => socket.write(`${line}\n`),
    async answerUntilClosed() {
      let open = true;
      let answered = 0;
      void closed.then(() => {
        open = false;
        waiters.splice(0).forEach((w) => w());
      });
      while (open) {
        if (commands.length > 0) {
          commands.shift();
          socket.write('200 result=0\n');
          answered++;
        } else {
          await new Promise<void>((resolve) => waiters.push(resolve));
        }
      }
      return answered;
    },
    destroy: () => socket.destroy(),
  };
}

async function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('serve process: SIGTERM', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let dir: string;
  let serve: ServeProcess | undefined;
  let call: HandCall | undefined;
  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-serve-'));
  });
  afterEach(async () => {
    call?.destroy();
    await serve?.kill();
  });
  after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(): Promise<{ agiPort: number; httpPort: number }> {
    serve = startServe({
      env: {
        DATABASE_URL: db.url,
        SECRET_KEY: SECRET,
        DATA_DIR: path.join(dir, 'data'),
        RECORDINGS_DIR: dir,
        AGI_HOST: '127.0.0.1',
        AGI_PORT: '0',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
        SHUTDOWN_DRAIN_MS: '20000',
        OUTBOX_POLL_INTERVAL_MS: '50',
        SYNC_POLL_INTERVAL_MS: '0',
        LOG_LEVEL: 'info',
      },
    });
    const started = await serve.waitForLog('retailcrm-agi started');
    return { agiPort: Number(started['agiPort']), httpPort: Number(started['httpPort']) };
  }

  // GIVEN a live FastAGI call WHEN serve gets SIGTERM THEN it refuses new calls, waits for the call, and exits 0
  it('drains a live call, then exits 0', async () => {
    const { agiPort, httpPort } = await start();
    call = await openCall(agiPort);
    expect(await call.nextCommand()).to.match(/^(GET|SET|EXEC) /);
    serve?.child.kill('SIGTERM');
    const shutting = await serve!.waitForLog(/^shutting down/);
    expect(shutting['live']).to.equal(1);
    await waitFor('the FastAGI port to refuse connections', () => connectionRefused(agiPort));
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(5_000) });
    expect(health.status).to.equal(503);
    expect(serve!.child.exitCode, 'still running while the call is live').to.equal(null);
    call.answer('200 result=1');
    expect(await call.answerUntilClosed(), 'the call went on to its end after the SIGTERM').to.be.greaterThan(0);
    const { code, signal } = await serve!.exited();
    expect({ code, signal }, serve!.stderr()).to.deep.equal({ code: 0, signal: null });
    expect(serve!.lines.map((l) => l.message)).to.include('stopped').and.not.include('still running after the stop; exiting');
  });

  // GIVEN a delivery to RetailCRM in flight WHEN serve gets SIGTERM THEN the delivery finishes (job done), then exit 0
  it('lets a delivery in flight finish, then exits 0', async () => {
    const fake = await FakeRetailCrm.start();
    try {
      const enterprises = new EnterpriseStore(db.pool, createSecretBox(SECRET));
      await enterprises.create({ number: 'drain', crmUrl: fake.url, apiKey: fake.apiKey, clientId: 'client-id-drain-0123456789', country: 'BY', site: null });
      fake.setLatency(1_500, UPLOAD);
      const id = await enqueueJob(db.pool, {
        enterprise: 'drain',
        kind: 'call_upload',
        jobKey: 'call_upload:drain:1',
        payload: {
          call: { date: '2026-12-06 12:00:00', type: 'in', phone: '+375291234567', result: 'answered', duration: 10, externalId: 'drain-1' },
          recordingFile: null,
          callEndedAt: new Date().toISOString(),
        },
      });
      await start();
      await waitFor('the upload to reach RetailCRM', () => fake.requests({ path: UPLOAD }).length > 0);
      serve?.child.kill('SIGTERM');
      await serve!.waitForLog(/^shutting down/);
      const { code } = await serve!.exited();
      expect(code, serve!.stderr()).to.equal(0);
      expect(serve!.lines.map((l) => l.message), 'nothing held the process open').to.not.include('still running after the stop; exiting');
      const job = await db.pool.query<{ state: string }>('select state from outbox_jobs where id = $1', [id]);
      expect(job.rows[0]?.state).to.equal('done');
    } finally {
      await fake.close();
    }
  });

  // GIVEN a stop waiting on a live call WHEN a second SIGTERM arrives THEN the process exits at once, not 0
  it('forces the exit on a second SIGTERM', async () => {
    const { agiPort } = await start();
    call = await openCall(agiPort);
    await call.nextCommand();
    serve?.child.kill('SIGTERM');
    await serve!.waitForLog(/^shutting down/);
    serve?.child.kill('SIGTERM');
    const { code } = await serve!.exited(10_000);
    expect(code).to.equal(130);
    expect(serve!.lines.map((l) => l.message)).to.include('second signal: forcing exit');
  });
});
