/**
 * Recordings (issue 10) through the whole service: MP3 made off the call path and linked, the WAV kept or deleted,
 * a WAV that cannot become an MP3 linked as is, an MP3 that comes too late never delaying the upload, and
 * retention deleting old recordings so their links answer 410 while the call's history stays.
 */
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession } from '../fakes/fake-asterisk.js';
import { waitFor } from '../helpers/async.js';
import { metricValue } from '../helpers/http-get.js';
import { ENTERPRISE, startTestService, TEST_SECRET, type TestService } from '../helpers/service.js';
import { fixturePath } from '../helpers/paths.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { createRecordingLinks } from '../../src/recordings/recording-links.js';
import { createRecordingPublisher } from '../../src/recordings/recording-publisher.js';
import { RecordingStore } from '../../src/recordings/recording-store.js';
import { RecordingRetention } from '../../src/recordings/recording-retention.js';
import { createLogger } from '../../src/lib/logger.js';

type Json = Record<string, unknown>;
const FIXTURE = 'in-20261126-033902-+375291234567-1795664342.0.wav';
const SCENARIO = 'inbound_answered';

/** A finalised RIFF/WAVE holding GSM 6.10 (format tag 0x31), as Asterisk's WAV49 writer makes it. */
function gsmWav(): Buffer {
  const data = Buffer.alloc(650, 0x55);
  const fmt = Buffer.alloc(20);
  fmt.writeUInt16LE(0x31, 0);
  fmt.writeUInt16LE(1, 2);
  fmt.writeUInt32LE(8000, 4);
  fmt.writeUInt32LE(1625, 8);
  fmt.writeUInt16LE(65, 12);
  fmt.writeUInt16LE(0, 14);
  fmt.writeUInt16LE(2, 16);
  fmt.writeUInt16LE(320, 18);
  const chunk = (id: string, body: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body]);
  };
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), chunk('fmt ', fmt), chunk('data', data)]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

describe('recordings: MP3, WAV kept or deleted, retention (service)', function () {
  this.timeout(60_000);
  let t: TestService;

  async function start(env: Record<string, string> = {}): Promise<void> {
    t = await startTestService({
      env: { RECORDING_SCAN_MS: '50', ...env },
      overrides: { outbox: { pollIntervalMs: 20, retryBaseMs: 10, retryCapMs: 50, recordingRecheckMs: 50 } },
    });
    t.crm.addUser({ id: 7, firstName: 'Anna' });
  }
  afterEach(async () => {
    await t?.stop();
  });

  const linkedid = (): string => loadAgiFlow(`${SCENARIO}__hangup`).hangupValues.get('CHANNEL(linkedid)')?.get ?? '';
  const local = (url: string): string => url.replace('https://pbx.example.com', `http://127.0.0.1:${t.service.httpPort}`);

  /** An answered call whose MixMonitor file is `file` (already in RECORDINGS_DIR); resolves with its upload. */
  async function callWithRecording(file: string): Promise<Json> {
    await runAgiSession({ port: t.service.agiPort, fixture: loadAgiFlow(`${SCENARIO}__incoming`), script: 'incoming', query: { enterprise: ENTERPRISE } });
    await t.service.drainBackground();
    await runAgiSession({
      port: t.service.agiPort,
      fixture: loadAgiFlow(`${SCENARIO}__hangup`),
      script: 'hangup',
      query: { enterprise: ENTERPRISE },
      deadChannel: true,
      variables: { MIXMONITOR_FILENAME: path.join(t.recordingsDir, file) },
    });
    await t.service.drainBackground();
    return waitFor('the upload', () => [...t.crm.account().calls.values()].find((c) => (c as Json)['externalId'] === linkedid()) as Json | undefined, 30_000);
  }

  async function row(): Promise<Json> {
    const { rows } = await t.db.pool.query('select state, mp3_file, wav_deleted, error, host_url from recordings where linkedid = $1', [linkedid()]);
    return rows[0] as Json;
  }

  // GIVEN RECORDING_KEEP_WAV=off WHEN the MP3 is made THEN the MP3 is linked and the WAV is deleted
  it('links the MP3 and deletes the WAV when told not to keep it', async () => {
    await start({ RECORDING_KEEP_WAV: 'off' });
    await copyFile(fixturePath('recordings', FIXTURE), path.join(t.recordingsDir, FIXTURE));
    const call = await callWithRecording(FIXTURE);
    expect(String(call['recordUrl'])).to.match(/\.mp3$/);
    const r = await waitFor('the WAV deleted', async () => ((await row())['wav_deleted'] === true ? row() : undefined), 5_000);
    expect(r).to.deep.include({ state: 'ready', mp3_file: FIXTURE.replace(/\.wav$/, '.mp3'), host_url: 'https://pbx.example.com' });
    let wavGone = false;
    await stat(path.join(t.recordingsDir, FIXTURE)).catch(() => (wavGone = true));
    expect(wavGone, 'the WAV is deleted').to.equal(true);
    const res = await fetch(local(String(call['recordUrl'])));
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('audio/mpeg');
    const mp3 = Buffer.from(await res.arrayBuffer());
    expect(mp3.equals(await readFile(path.join(t.recordingsDir, FIXTURE.replace(/\.wav$/, '.mp3'))))).to.equal(true);
    // Conversions are counted for Prometheus: one MP3, the fixture's ~10 s of audio.
    const metrics = await t.service.metrics.registry.metrics();
    expect(metricValue(metrics, 'rcrm_recordings_converted_total', { outcome: 'mp3' })).to.equal(1);
    expect(metricValue(metrics, 'rcrm_recordings_converted_total', { outcome: 'failed' })).to.equal(0);
    expect(metricValue(metrics, 'rcrm_recordings_converted_audio_seconds_total')).to.be.within(9.5, 10.5);
  });

  // GIVEN a .wav that holds GSM (not 16-bit PCM) WHEN converted THEN the conversion is refused with the reason and the WAV is linked
  it('links the WAV when it cannot become an MP3, and says why', async () => {
    await start();
    const file = 'in-gsm-1795664342.0.wav';
    await writeFile(path.join(t.recordingsDir, file), gsmWav());
    const call = await callWithRecording(file);
    expect(String(call['recordUrl'])).to.match(/\.wav$/);
    const r = await row();
    expect(r['state']).to.equal('ready');
    expect(r['mp3_file']).to.equal(null);
    expect(String(r['error'])).to.match(/GSM 6\.10/);
    expect(metricValue(await t.service.metrics.registry.metrics(), 'rcrm_recordings_converted_total', { outcome: 'failed' })).to.equal(1);
    const res = await fetch(local(String(call['recordUrl'])), { headers: { range: 'bytes=0-3' } });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-type')).to.equal('audio/wav');
    await res.arrayBuffer();
  });

  // GIVEN an MP3 still being made past RECORDING_MP3_WAIT_MS WHEN the upload asks THEN it links the WAV, and the late MP3 is not published
  it('never waits for the MP3 longer than configured: the WAV is linked', async () => {
    await start();
    const store = new RecordingStore(t.db.pool);
    const links = createRecordingLinks({ publicUrl: 'https://pbx.example.com', recordingsDir: t.recordingsDir, box: createSecretBox(TEST_SECRET) });
    let clock = Date.now();
    const publisher = createRecordingPublisher({ store, links, hostUrl: 'https://pbx.example.com', mp3WaitMs: 30_000, now: () => clock });
    // Another host's row, so this instance's converter leaves it alone: its MP3 is "being made" there.
    const host = 'https://other-host.example';
    await t.db.pool.query(
      `insert into recordings (enterprise, linkedid, host_url, wav_file, state, wav_ready_at) values ($1, 'slow', $2, 'slow.wav', 'converting', now())`,
      [ENTERPRISE, host],
    );
    expect(await publisher.resolve(ENTERPRISE, 'slow.wav', new Date(), host)).to.deep.equal({ status: 'pending' });
    clock += 31_000;
    const linked = await publisher.resolve(ENTERPRISE, 'slow.wav', new Date(), host);
    expect(linked).to.deep.equal({ status: 'ready', url: links.urlAt(host, ENTERPRISE, 'slow.wav') });
    expect(linked.status === 'ready' && linked.url.startsWith(`${host}/recordings/`)).to.equal(true);
    const found = await store.find(ENTERPRISE, host, 'slow.wav');
    expect(await store.markReady(found!.id, 'converting', { mp3File: 'slow.mp3' }), 'the late MP3 loses').to.equal(false);
    expect((await store.find(ENTERPRISE, host, 'slow.wav'))?.mp3File).to.equal(null);
  });

  // GIVEN a 2-day retention and a 3-day-old recording WHEN the sweep runs THEN its files go, its links answer 410, and the call stays
  it('expires old recordings: files deleted, links 410 Gone, call history kept', async () => {
    await start({ RECORDING_RETENTION_INTERVAL_MS: '100' });
    await copyFile(fixturePath('recordings', FIXTURE), path.join(t.recordingsDir, FIXTURE));
    const call = await callWithRecording(FIXTURE);
    const url = local(String(call['recordUrl']));
    const before = await fetch(url);
    expect(before.status).to.equal(200);
    await before.arrayBuffer();
    const wavUrl = local(createRecordingLinks({ publicUrl: 'https://pbx.example.com', recordingsDir: t.recordingsDir, box: createSecretBox(TEST_SECRET) }).urlFor(ENTERPRISE, FIXTURE));
    await t.enterprises.update(ENTERPRISE, { settings: { recordingRetentionDays: 2 } });
    await t.db.pool.query(`update recordings set created_at = now() - interval '3 days' where linkedid = $1`, [linkedid()]);
    const gone = await waitFor('the link to answer 410', async () => {
      const res = await fetch(url);
      await res.arrayBuffer();
      return res.status === 410 ? res : undefined;
    }, 10_000);
    expect(gone.status).to.equal(410);
    const wavRes = await fetch(wavUrl);
    expect(wavRes.status, 'the WAV link too').to.equal(410);
    await wavRes.arrayBuffer();
    expect((await row())['state']).to.equal('expired');
    for (const f of [FIXTURE, FIXTURE.replace(/\.wav$/, '.mp3')]) {
      let missing = false;
      await stat(path.join(t.recordingsDir, f)).catch(() => (missing = true));
      expect(missing, `${f} deleted`).to.equal(true);
    }
    const calls = await t.db.pool.query('select recording_file from calls where linkedid = $1', [linkedid()]);
    expect(calls.rows, 'the history row stays').to.deep.equal([{ recording_file: FIXTURE }]);
    expect(metricValue(await t.service.metrics.registry.metrics(), 'rcrm_recordings_expired_total', { enterprise: ENTERPRISE })).to.equal(1);
  });

  // GIVEN two sweepers for the same host (two instances) WHEN they run at once THEN each old recording is expired exactly once
  it('two retention sweepers on one host never fight: row locks split the work', async () => {
    await start();
    await t.enterprises.update(ENTERPRISE, { settings: { recordingRetentionDays: 1 } });
    const host = 'https://pbx.example.com';
    await t.db.pool.query(
      `insert into recordings (enterprise, linkedid, host_url, wav_file, state, created_at)
       select $1, 'old-' || i, $2, 'old-' || i || '.wav', 'ready', now() - interval '5 days' from generate_series(1, 250) i`,
      [ENTERPRISE, host],
    );
    const sweeper = (): RecordingRetention => new RecordingRetention({
      store: new RecordingStore(t.db.pool),
      enterprises: t.enterprises,
      hostUrl: host,
      recordingsDir: t.recordingsDir,
      intervalMs: 0,
      batchSize: 20,
      logger: createLogger({ level: 'error', silent: true }),
    });
    const [a, b] = await Promise.all([sweeper().sweep(), sweeper().sweep()]);
    expect(a + b).to.equal(250);
    const { rows } = await t.db.pool.query(`select count(*)::int as n from recordings where state = 'expired'`);
    expect(rows[0]).to.deep.equal({ n: 250 });
  });
});
