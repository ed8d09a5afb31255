/**
 * Nothing lost (issue 3): RetailCRM down for a while, the service killed with SIGKILL mid-delivery, two instances
 * on one database. Real PostgreSQL, the real service (in process, and as a child process for kill -9).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { projectRoot } from '../helpers/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/async.js';
import { ENTERPRISE, startTestService, TEST_SECRET, waitForOutboxSettled } from '../helpers/service.js';

type Json = Record<string, unknown>;
const incomingFlow = loadAgiFlow('inbound_answered__incoming');
const hangupFlow = loadAgiFlow('inbound_answered__hangup');
const fastOutbox = { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 100 };

async function call(port: number, linkedid: string): Promise<void> {
  const variables = { 'CHANNEL(linkedid)': linkedid };
  await runAgiSession({ port, fixture: incomingFlow, script: 'incoming', query: { enterprise: ENTERPRISE }, variables });
  await runAgiSession({ port, fixture: hangupFlow, script: 'hangup', query: { enterprise: ENTERPRISE }, variables, deadChannel: true });
}

function uploadedIds(crm: FakeRetailCrm): string[] {
  return crm
    .requests({ path: '/api/v5/telephony/calls/upload' })
    .flatMap((r) => ((r.form as Json)['calls'] as Json[]).map((c) => String(c['externalId'])));
}

describe('durability: nothing acknowledged is lost', () => {
  // GIVEN RetailCRM down while 30 calls happen WHEN it comes back THEN every call arrives once, in order, with no stale popups
  it('catches up after an outage, in order, without duplicates', async () => {
    const t = await startTestService({ overrides: { outbox: fastOutbox } });
    try {
      t.crm.setMode('down');
      const ids = Array.from({ length: 30 }, (_, i) => `1795670000.${100 + i}`);
      for (const id of ids) await call(t.service.agiPort, id);
      await t.service.drainBackground();
      expect(t.crm.account().calls.size).to.equal(0);
      const failedAttempts = t.crm.requests().length;
      t.crm.setMode('normal');
      await waitFor('all uploads', () => t.crm.account().calls.size === 30, 15_000);
      await waitForOutboxSettled(t); // any duplicate would have been sent by now
      expect([...t.crm.account().calls.keys()]).to.deep.equal(ids);
      // What RetailCRM received once it was back: each call once, in call order.
      const afterRecovery = t.crm
        .requests({ path: '/api/v5/telephony/calls/upload' })
        .filter((r) => t.crm.requests().indexOf(r) >= failedAttempts)
        .flatMap((r) => ((r.form as Json)['calls'] as Json[]).map((c) => String(c['externalId'])));
      expect(afterRecovery).to.deep.equal(ids);
      expect(t.crm.account().events.filter((e) => (e as Json)['type'] === 'in')).to.deep.equal([]);
    } finally {
      await t.stop();
    }
  });

  // GIVEN two instances on one database WHEN calls alternate between them THEN each call is uploaded exactly once
  it('delivers each call once with two instances on one database', async () => {
    const a = await startTestService({ overrides: { outbox: fastOutbox } });
    const b = await startTestService({ db: a.db, crm: a.crm, seed: false, overrides: { outbox: fastOutbox } });
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `1795671000.${100 + i}`);
      await Promise.all(ids.map((id, i) => call((i % 2 === 0 ? a : b).service.agiPort, id)));
      await waitFor('all uploads', () => a.crm.account().calls.size === 40, 15_000);
      await waitForOutboxSettled(a); // both instances done: any duplicate would have been sent by now
      const sent = uploadedIds(a.crm);
      expect(sent).to.have.length(40);
      expect(new Set(sent).size).to.equal(40);
    } finally {
      await b.stop();
      await a.stop();
    }
  });

  describe('kill -9', () => {
    let db: TestDatabase;
    let crm: FakeRetailCrm;
    let dataDir: string;
    const children: ChildProcess[] = [];

    before(async () => {
      db = await createTestDatabase();
      crm = await FakeRetailCrm.start();
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-kill-'));
    });
    after(async () => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await crm.close();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    });

    function startChild(): Promise<{ child: ChildProcess; agiPort: number }> {
      const child = spawn(process.execPath, [path.join(projectRoot, 'dist/src/cli.js'), 'serve'], {
        env: {
          PATH: process.env['PATH'] ?? '',
          DATABASE_URL: db.url,
          DATA_DIR: dataDir,
          AGI_PORT: '0',
          AGI_HOST: '127.0.0.1',
          HTTP_PORT: '0',
          HTTP_HOST: '127.0.0.1',
          SECRET_KEY: TEST_SECRET,
          LOG_LEVEL: 'info',
          OUTBOX_POLL_INTERVAL_MS: '50',
          OUTBOX_LOCK_TIMEOUT_MS: '2000',
          OUTBOX_RETRY_CAP_MS: '200',
          CRM_TIMEOUT_MS: '500',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      return new Promise((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`service did not start: ${buf.slice(-2000)}`)), 15_000);
        child.stderr?.setEncoding('utf8');
        child.stderr?.on('data', (chunk: string) => {
          buf += chunk;
          const m = /"agiPort":(\d+)/.exec(buf);
          if (m?.[1]) {
            clearTimeout(timer);
            child.stderr?.removeAllListeners('data');
            child.stderr?.resume();
            resolve({ child, agiPort: Number(m[1]) });
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`service exited with ${code}: ${buf.slice(-2000)}`));
        });
      });
    }

    // GIVEN a call whose /hangup was acknowledged while RetailCRM was down WHEN the service is killed -9 and restarted THEN the call still arrives
    it('delivers after SIGKILL and restart', async () => {
      const { EnterpriseStore } = await import('../../src/db/enterprise-store.js');
      const { createSecretBox } = await import('../../src/secrets/secret-box.js');
      await new EnterpriseStore(db.pool, createSecretBox(TEST_SECRET)).create({
        number: ENTERPRISE,
        crmUrl: crm.url,
        apiKey: crm.apiKey,
        clientId: 'client-id-kill-test-0000',
        country: 'BY',
        site: null,
      });
      const first = await startChild();
      crm.setMode('down');
      await call(first.agiPort, '1795672000.1');
      const pending = await db.pool.query("select count(*)::int as n from outbox_jobs where kind = 'call_upload' and state = 'pending'");
      expect(pending.rows[0]).to.deep.equal({ n: 1 });
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      crm.setMode('normal');
      const second = await startChild();
      await waitFor('upload after restart', () => crm.account().calls.has('1795672000.1'), 20_000);
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
      expect([...crm.account().calls.keys()]).to.deep.equal(['1795672000.1']);
    });
  });
});
