/**
 * `secret rotate` and `secret retire` through the real processes (STYLE.md §23): a database from before the keyring
 * (v1 API key and clientId, a link without key id) is rotated by the CLI; the service started afterwards still
 * finds callers in the enterprise's RetailCRM with the re-encrypted API key, finds the enterprise by clientId
 * (makeCallUrl), plays links issued before the rotation and publishes new links that name the new key. A process
 * without the keyring file stops with exit 1 and one sentence; retire refuses while a stored secret needs the key,
 * then works, and the old links stop.
 */
import { expect } from 'chai';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PbxStore } from '../../src/clicktocall/pbx-store.js';
import { EnterpriseStore } from '../../src/db/enterprise-store.js';
import { createRecordingLinks } from '../../src/recordings/recording-links.js';
import { keyIdOf } from '../../src/secrets/key-derivation.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { runCliProcess, startServe, type ServeProcess } from '../helpers/cli-process.js';
import { legacySeal, legacySign } from '../helpers/legacy-secrets.js';
import { fixturePath } from '../helpers/paths.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { waitFor } from '../helpers/async.js';

const SECRET = 'original-secret-key-0123456789-abcdefgh';
const OLD_ID = keyIdOf(SECRET);
const ENTERPRISE = '0367';
const CLIENT_ID = 'client-id-before-the-keyring-0367';
const PUBLIC = 'https://pbx.example.com';
const RECORDING = 'in-20261126-033902-+375291234567-1795664342.0.wav';

type Json = Record<string, unknown>;

describe('secret rotate and retire (real CLI and service processes)', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let crm: FakeRetailCrm;
  let dir: string;
  let serve: ServeProcess | undefined;
  before(async () => {
    db = await createTestDatabase();
    crm = await FakeRetailCrm.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-keyring-'));
  });
  afterEach(async () => {
    await serve?.kill();
    serve = undefined;
  });
  after(async () => {
    await db.drop();
    await crm.close();
    await rm(dir, { recursive: true, force: true });
  });

  const keyringFile = (): string => path.join(dir, 'data', 'keyring.json');
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    DATABASE_URL: db.url,
    SECRET_KEY: SECRET,
    DATA_DIR: path.join(dir, 'data'),
    RECORDINGS_DIR: dir,
    PUBLIC_URL: PUBLIC,
    AGI_HOST: '127.0.0.1',
    AGI_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    SYNC_POLL_INTERVAL_MS: '0',
    MANAGER_STATUS_SYNC_MS: '0',
    OUTBOX_POLL_INTERVAL_MS: '50',
    CRM_TIMEOUT_MS: '3000',
    LOG_LEVEL: 'info',
    ...extra,
  });
  const cli = (...args: string[]) => runCliProcess(args, { env: env() });
  async function startService(): Promise<{ agiPort: number; httpPort: number }> {
    serve = startServe({ env: env() });
    const started = await serve.waitForLog('retailcrm-agi started');
    return { agiPort: Number(started['agiPort']), httpPort: Number(started['httpPort']) };
  }
  async function stopService(): Promise<void> {
    serve?.child.kill('SIGTERM');
    expect((await serve!.exited()).code, serve!.stderr()).to.equal(0);
    serve = undefined;
  }
  const status = async (httpPort: number, publicUrl: string, init?: RequestInit): Promise<number> => {
    const res = await fetch(publicUrl.replace(PUBLIC, `http://127.0.0.1:${httpPort}`), { ...init, signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    return res.status;
  };
  const makeCall = (httpPort: number, clientId: string) =>
    status(httpPort, `${PUBLIC}/api/makecallexternal`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ clientId, code: '101', phone: '+375297654321' }),
    });
  /** An incoming call and its hangup with a recording: the lookup's answer and the link RetailCRM was sent. */
  async function callWithRecording(agiPort: number): Promise<{ lookup: string | undefined; recordUrl: string }> {
    const start = await runAgiSession({ port: agiPort, fixture: loadAgiFlow('inbound_answered__incoming'), script: 'incoming', query: { enterprise: ENTERPRISE } });
    const hangupFlow = loadAgiFlow('inbound_answered__hangup');
    const linkedid = hangupFlow.hangupValues.get('CHANNEL(linkedid)')?.get ?? '';
    await runAgiSession({
      port: agiPort, fixture: hangupFlow, script: 'hangup', query: { enterprise: ENTERPRISE }, deadChannel: true,
      variables: { MIXMONITOR_FILENAME: path.join(dir, RECORDING) },
    });
    const upload = await waitFor('the call uploaded with its recording', () => [...crm.account().calls.values()].find((c) => (c as Json)['externalId'] === linkedid && (c as Json)['recordUrl'] !== undefined) as Json | undefined, 15_000);
    return { lookup: start.variables.get('RCRM_LOOKUP'), recordUrl: String(upload['recordUrl']) };
  }

  // GIVEN a database from before the keyring WHEN rotated, served, retired THEN old links play until retire, secrets and lookups keep working
  it('rotates without breaking stored secrets or issued links, and retires the old key once nothing needs it', async () => {
    crm.addCustomer({ firstName: 'Иван', phones: ['+375291234567'], managerId: 7 });
    await copyFile(fixturePath('recordings', RECORDING), path.join(dir, RECORDING));
    const oldBox = createSecretBox(SECRET);
    await new EnterpriseStore(db.pool, oldBox).create({ number: ENTERPRISE, crmUrl: crm.url, apiKey: crm.apiKey, clientId: CLIENT_ID, country: 'BY', site: 'shop1' });
    // As the service stored them before the keyring: `v1:` values.
    await db.pool.query('update enterprises set api_key_enc = $1, client_id_enc = $2', [legacySeal(SECRET, crm.apiKey), legacySeal(SECRET, CLIENT_ID)]);
    await new PbxStore(db.pool, oldBox).save(ENTERPRISE, { host: '127.0.0.1', port: 1, username: 'rcrm', secret: 'ami-secret-0367' });
    const preLink = createRecordingLinks({ publicUrl: PUBLIC, recordingsDir: dir, box: oldBox }).urlFor(ENTERPRISE, RECORDING);
    const payload = preLink.split('/').pop()?.split('.')[0] ?? '';
    const bareLink = `${PUBLIC}/recordings/${payload}.${legacySign(SECRET, 'recording', payload)}.wav`;
    expect(preLink).to.contain(`.${OLD_ID}.`);
    const hookBefore = ((JSON.parse((await cli('enterprise', 'show', '--number', ENTERPRISE, '--json')).stdout) as Json)['urls'] as Json)['webhookUrl'] as string;

    // A service running through the rotation: it finds the enterprise by clientId before and after, without a restart.
    const running = await startService();
    expect(await makeCall(running.httpPort, CLIENT_ID)).not.to.equal(403);
    const rotated = await cli('secret', 'rotate');
    expect(rotated.code, rotated.stderr).to.equal(0);
    expect(await makeCall(running.httpPort, CLIENT_ID), 'the running service re-read the keyring').not.to.equal(403);
    await stopService();
    const newId = /new current key ([0-9a-f]{12})/.exec(rotated.stdout)?.[1] ?? '';
    expect(newId).to.match(/^[0-9a-f]{12}$/).and.not.equal(OLD_ID);
    expect(rotated.stdout).to.contain('3 stored secrets re-encrypted');
    expect((await stat(keyringFile())).mode & 0o777).to.equal(0o600);
    const stored = (await db.pool.query<{ api_key_enc: string; client_id_enc: string; ami_secret_enc: string }>(
      'select api_key_enc, client_id_enc, ami_secret_enc from enterprises join pbx_connections on enterprise = number',
    )).rows[0];
    for (const v of Object.values(stored ?? {})) expect(v).to.match(new RegExp(`^v2:${newId}:`));
    const check = JSON.stringify((await db.pool.query('select * from secret_key_check')).rows);
    expect(check).to.contain(newId).and.contain(OLD_ID).and.not.contain(SECRET);
    expect(check).not.to.contain(JSON.parse(await readFile(keyringFile(), 'utf8')).keys[1].key as string);

    // A process without the keyring file: one sentence, exit 1, for the service and for a command.
    const noKeyring = env({ SECRET_KEYRING_FILE: path.join(dir, 'elsewhere', 'keyring.json') });
    const lost = startServe({ env: noKeyring });
    const lostExit = await lost.exited();
    expect(lostExit.code, lost.stderr()).to.equal(1);
    expect(lost.stderr()).to.match(/re-encrypted by "secret rotate".*the keyring file .*elsewhere\/keyring\.json is missing or older than the rotation/);
    const lostCli = await runCliProcess(['enterprise', 'list'], { env: noKeyring });
    expect(lostCli.code).to.equal(1);
    expect(lostCli.stderr.trim().split('\n').pop()).to.match(/^error: this database's secrets were re-encrypted/);

    // The service after the rotation.
    const { agiPort, httpPort } = await startService();
    expect(await status(httpPort, bareLink), 'a link from before the keyring').to.equal(200);
    expect(await status(httpPort, preLink), 'a link signed with the old key id').to.equal(200);
    const call = await callWithRecording(agiPort);
    expect(call.lookup, 'the caller found in RetailCRM with the re-encrypted API key').to.equal('FOUND');
    const lookups = crm.requests({ path: /^\/api\/v5\// });
    expect(lookups).not.to.be.empty;
    expect(lookups.every((r) => r.headers['x-api-key'] === crm.apiKey)).to.equal(true);
    expect(call.recordUrl, 'a new link names the new key').to.contain(`.${newId}.`);
    expect(await status(httpPort, call.recordUrl)).to.equal(200);
    expect(await makeCall(httpPort, CLIENT_ID), 'the enterprise found by its clientId').not.to.equal(403);
    expect(await makeCall(httpPort, 'not-the-client-id-0123456789')).to.equal(403);
    expect(await status(httpPort, hookBefore, { method: 'POST', body: new URLSearchParams({ event: 'customer.edit', id: '1' }) })).not.to.equal(403);
    await stopService();

    // Retire: refused for the current key and while a stored secret still names the old one.
    const current = await cli('secret', 'retire', '--key-id', newId);
    expect(current.code).to.equal(1);
    expect(current.stderr).to.contain('is the current key');
    const amiSecret = (await db.pool.query<{ ami_secret_enc: string }>('select ami_secret_enc from pbx_connections')).rows[0]?.ami_secret_enc;
    await db.pool.query('update pbx_connections set ami_secret_enc = $1', [oldBox.seal('ami-secret-0367')]);
    const needed = await cli('secret', 'retire', '--key-id', OLD_ID);
    expect(needed.code).to.equal(1);
    expect(needed.stderr).to.contain(`key ${OLD_ID} still seals stored secrets (pbx_connections.ami_secret_enc: 1)`);
    await db.pool.query('update pbx_connections set ami_secret_enc = $1', [amiSecret]);

    const retired = await cli('secret', 'retire', '--key-id', OLD_ID);
    expect(retired.code, retired.stderr).to.equal(0);
    expect(retired.stdout).to.contain('no longer work');
    expect(await readFile(keyringFile(), 'utf8')).not.to.contain(SECRET);
    const list = JSON.parse((await cli('secret', 'list', '--json')).stdout) as Json[];
    expect(list.map((k) => [k['keyId'], k['state']])).to.deep.equal([[OLD_ID, 'retired'], [newId, 'current']]);
    expect(list[0]?.['retiredAt']).to.be.a('string');
    const audit = (await cli('audit', 'list', '--json')).stdout;
    const actions = (JSON.parse(audit) as Json[]).map((r) => r['action']);
    expect(actions).to.include.members(['secret.rotate', 'secret.retire']);
    expect(audit).not.to.contain(SECRET);

    // After retire: the old key's links stop, the new ones still play, stored secrets still open.
    const after = await startService();
    expect(await status(after.httpPort, bareLink)).to.equal(403);
    expect(await status(after.httpPort, preLink)).to.equal(403);
    expect(await status(after.httpPort, call.recordUrl)).to.equal(200);
    expect(await makeCall(after.httpPort, CLIENT_ID)).not.to.equal(403);
    await stopService();
  });
});
