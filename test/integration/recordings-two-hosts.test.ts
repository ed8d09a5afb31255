/**
 * Many PBX hosts (issue 10, docs/recordings.md): each Asterisk host runs its own `retailcrm-agi serve` (FastAGI on
 * loopback, its own RECORDINGS_DIR and PUBLIC_URL), all sharing one PostgreSQL. Two real service processes play
 * the two hosts; a call on each must be uploaded with a link to the host that holds its recording, and the link
 * must play there (and only there), whichever process's outbox did the upload.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { ExtensionStore } from '../../src/db/extension-store.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { startServe, type ServeProcess } from '../helpers/cli-process.js';
import { fixturePath } from '../helpers/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/async.js';

const SECRET = 'two-hosts-secret-key-0123456789-abcdef';
const ENTERPRISE = 'hosts';
const RECORDING = 'in-20261126-033902-+375291234567-1795664342.0.wav';
type Json = Record<string, unknown>;

interface Host {
  readonly name: string;
  readonly serve: ServeProcess;
  readonly agiPort: number;
  readonly httpPort: number;
  readonly publicUrl: string;
  readonly recordingsDir: string;
  readonly dataDir: string;
}

describe('recordings on many PBX hosts: one service per host, one database (real processes)', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let crm: FakeRetailCrm;
  const hosts: Host[] = [];

  async function startHost(name: string): Promise<Host> {
    const [agiPort, httpPort] = [await freePort(), await freePort()];
    const recordingsDir = await mkdtemp(path.join(os.tmpdir(), `rcrm-rec-${name}-`));
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `rcrm-data-${name}-`));
    // Each host's own address, as RetailCRM and browsers reach it.
    const publicUrl = `http://127.0.0.1:${httpPort}`;
    const serve = startServe({
      env: {
        DATABASE_URL: db.url,
        SECRET_KEY: SECRET,
        DATA_DIR: dataDir,
        RECORDINGS_DIR: recordingsDir,
        PUBLIC_URL: publicUrl,
        AGI_HOST: '127.0.0.1',
        AGI_PORT: String(agiPort),
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
        OUTBOX_POLL_INTERVAL_MS: '50',
        SYNC_POLL_INTERVAL_MS: '0',
        MANAGER_STATUS_SYNC_MS: '0',
        RECONCILE_INTERVAL_MS: '0',
        RECORDING_SCAN_MS: '100',
        LOG_LEVEL: 'info',
      },
    });
    const host: Host = { name, serve, agiPort, httpPort, publicUrl, recordingsDir, dataDir };
    hosts.push(host);
    await serve.waitForLog('retailcrm-agi started', 60_000);
    return host;
  }

  before(async () => {
    db = await createTestDatabase();
    crm = await FakeRetailCrm.start();
    crm.addUser({ id: 7, firstName: 'Anna' });
    crm.addUser({ id: 8, firstName: 'Boris' });
    await new EnterpriseStore(db.pool, createSecretBox(SECRET)).create({
      number: ENTERPRISE, crmUrl: crm.url, apiKey: crm.apiKey, clientId: 'client-id-two-hosts-0123456789', country: 'BY', site: 'shop1',
    });
    const extensions = new ExtensionStore(db.pool);
    await extensions.set(ENTERPRISE, '101', 7);
    await extensions.set(ENTERPRISE, '102', 8);
  });
  after(async () => {
    for (const h of hosts) {
      await h.serve.kill();
      await rm(h.recordingsDir, { recursive: true, force: true });
      await rm(h.dataDir, { recursive: true, force: true });
    }
    await crm.close();
    await db.drop();
  });

  /** The scenario's start and /hangup sessions on `host`'s FastAGI, its MixMonitor file in that host's directory. */
  async function callOn(host: Host, scenario: string): Promise<string> {
    const startScript = scenario.startsWith('outbound') ? 'outgoing' : 'incoming';
    await runAgiSession({ port: host.agiPort, fixture: loadAgiFlow(`${scenario}__${startScript}`), script: startScript, query: { enterprise: ENTERPRISE } });
    const file = `${host.name}-${RECORDING}`;
    await copyFile(fixturePath('recordings', RECORDING), path.join(host.recordingsDir, file));
    await runAgiSession({
      port: host.agiPort,
      fixture: loadAgiFlow(`${scenario}__hangup`),
      script: 'hangup',
      query: { enterprise: ENTERPRISE },
      deadChannel: true,
      variables: { MIXMONITOR_FILENAME: path.join(host.recordingsDir, file) },
    });
    return loadAgiFlow(`${scenario}__hangup`).hangupValues.get('CHANNEL(linkedid)')?.get ?? '';
  }

  // GIVEN two hosts, each with its own service, directory and PUBLIC_URL WHEN each takes a recorded call THEN each upload links its own host, and plays there only
  it('links each call to the host that holds its recording', async () => {
    const a = await startHost('a');
    const b = await startHost('b');
    const calls = [
      { host: a, other: b, linkedid: await callOn(a, 'inbound_answered') },
      { host: b, other: a, linkedid: await callOn(b, 'outbound_answered') },
    ];
    for (const { host, other, linkedid } of calls) {
      const upload = await waitFor(
        `the upload of the call on host ${host.name}`,
        () => [...crm.account().calls.values()].find((c) => (c as Json)['externalId'] === linkedid) as Json | undefined,
        60_000,
      );
      const url = String(upload['recordUrl']);
      expect(url.startsWith(`${host.publicUrl}/recordings/`), `${url} points at host ${host.name}`).to.equal(true);
      expect(url).to.match(/\.mp3$/);
      const res = await fetch(url, { headers: { range: 'bytes=100-199' } });
      expect(res.status).to.equal(206);
      expect(res.headers.get('content-type')).to.equal('audio/mpeg');
      expect((await res.arrayBuffer()).byteLength).to.equal(100);
      // The other host has no such file: the link would not play there.
      const elsewhere = await fetch(url.replace(host.publicUrl, other.publicUrl));
      expect(elsewhere.status).to.equal(404);
      await elsewhere.arrayBuffer();
      const { rows } = await db.pool.query('select host_url, state from recordings where linkedid = $1', [linkedid]);
      expect(rows).to.deep.equal([{ host_url: host.publicUrl, state: 'ready' }]);
    }
    for (const h of hosts) {
      h.serve.child.kill('SIGTERM');
      expect((await h.serve.exited(60_000)).code, h.serve.stderr()).to.equal(0);
    }
  });
});
