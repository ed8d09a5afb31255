/** Component: the real HttpServer serving recordings through signed links, with Range support. */
import { copyFile, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { HttpServer } from '../../src/http/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { createRecordingLinks, type RecordingLinks } from '../../src/recordings/recording-links.js';
import { registerRecordingRoutes } from '../../src/recordings/recording-routes.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { waitFor } from '../helpers/async.js';
import { fixturePath } from '../helpers/paths.js';

/** How many of this process's file descriptors point at `file` (Linux /proc). */
async function openHandlesTo(file: string): Promise<number> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((t) => t === file).length;
}

const NAME = 'in-20261126-033902-+375291234567-1795664342.0.wav';

describe('recording routes over HTTP', function () {
  this.timeout(10_000);
  let root: string;
  let dir: string;
  let http: HttpServer;
  let links: RecordingLinks;
  let base: string;
  let audio: Buffer;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'rcrm-recroutes-'));
    dir = path.join(root, 'monitor');
    await mkdir(path.join(dir, 'sub'), { recursive: true });
    await copyFile(fixturePath('recordings', NAME), path.join(dir, NAME));
    audio = await readFile(path.join(dir, NAME));
    await writeFile(path.join(dir, 'sub', 'out.mp3'), Buffer.alloc(1_000, 0xff));
    await writeFile(path.join(root, 'secret.wav'), 'not yours');
    await symlink(path.join(root, 'secret.wav'), path.join(dir, 'escape.wav'));

    http = new HttpServer({ logger: createLogger({ level: 'error', silent: true }) });
    const port = await http.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    links = createRecordingLinks({ publicUrl: base, recordingsDir: dir, box: createSecretBox('r'.repeat(40)) });
    registerRecordingRoutes(http, { links, recordingsDir: dir, logger: createLogger({ level: 'error', silent: true }) });
  });

  after(async () => {
    await http.close();
    await rm(root, { recursive: true, force: true });
  });

  const url = (rel = NAME, enterprise = 'acme'): string => links.urlFor(enterprise, rel);

  async function get(u: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ res: Response; body: Buffer }> {
    const res = await fetch(u, { method, headers });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  }

  // GIVEN a signed link to the real recording WHEN fetched THEN 200 with the exact bytes, audio/wav and caching headers
  it('serves the whole file', async () => {
    const u = url();
    expect(u).to.match(/^http:\/\/127\.0\.0\.1:\d+\/recordings\/[A-Za-z0-9_-]+\.[0-9a-f]{12}\.[A-Za-z0-9_-]{32}\.wav$/);
    expect(u).to.not.contain('375291234567');
    const { res, body } = await get(u);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('audio/wav');
    expect(res.headers.get('accept-ranges')).to.equal('bytes');
    expect(res.headers.get('content-length')).to.equal(String(audio.length));
    expect(res.headers.get('cache-control')).to.equal('private, max-age=3600');
    expect(body.equals(audio)).to.equal(true);
  });

  // GIVEN an mp3 in a subdirectory WHEN fetched THEN served as audio/mpeg
  it('picks the content type from the extension', async () => {
    const { res, body } = await get(url('sub/out.mp3'));
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('audio/mpeg');
    expect(body.length).to.equal(1_000);
  });

  // GIVEN Range bytes=a-b WHEN fetched THEN 206 with exactly those bytes and content-range
  it('serves a closed range', async () => {
    const { res, body } = await get(url(), { range: 'bytes=100-199' });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-range')).to.equal(`bytes 100-199/${audio.length}`);
    expect(res.headers.get('content-length')).to.equal('100');
    expect(body.equals(audio.subarray(100, 200))).to.equal(true);
  });

  // GIVEN Range bytes=a- WHEN fetched THEN 206 from a to the end
  it('serves an open range', async () => {
    const { res, body } = await get(url(), { range: 'bytes=160000-' });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-range')).to.equal(`bytes 160000-${audio.length - 1}/${audio.length}`);
    expect(body.equals(audio.subarray(160_000))).to.equal(true);
  });

  // GIVEN Range bytes=-n WHEN fetched THEN 206 with the last n bytes
  it('serves a suffix range', async () => {
    const { res, body } = await get(url(), { range: 'bytes=-44' });
    expect(res.status).to.equal(206);
    expect(res.headers.get('content-range')).to.equal(`bytes ${audio.length - 44}-${audio.length - 1}/${audio.length}`);
    expect(body.equals(audio.subarray(audio.length - 44))).to.equal(true);
  });

  // GIVEN a range ending past the file WHEN fetched THEN clamped to the last byte
  it('clamps a range past the end', async () => {
    const { res, body } = await get(url(), { range: `bytes=${audio.length - 10}-${audio.length + 1000}` });
    expect(res.status).to.equal(206);
    expect(body.equals(audio.subarray(audio.length - 10))).to.equal(true);
  });

  // GIVEN a range starting past the end, or bytes=-0 WHEN fetched THEN 416 with content-range bytes */size
  it('refuses unsatisfiable ranges', async () => {
    for (const range of [`bytes=${audio.length}-`, 'bytes=999999999-999999999', 'bytes=-0']) {
      const { res } = await get(url(), { range });
      expect(res.status, range).to.equal(416);
      expect(res.headers.get('content-range')).to.equal(`bytes */${audio.length}`);
    }
  });

  // GIVEN multiple ranges or a malformed header WHEN fetched THEN the whole file with 200 (documented choice)
  it('answers multiple or malformed ranges with the whole file', async () => {
    for (const range of ['bytes=0-1,5-9', 'bytes=abc', 'items=0-5', 'bytes=10-5']) {
      const { res, body } = await get(url(), { range });
      expect(res.status, range).to.equal(200);
      expect(body.length).to.equal(audio.length);
    }
  });

  // GIVEN HEAD WHEN requested with and without Range THEN the same headers and no body
  it('answers HEAD', async () => {
    const full = await get(url(), {}, 'HEAD');
    expect(full.res.status).to.equal(200);
    expect(full.res.headers.get('content-length')).to.equal(String(audio.length));
    expect(full.res.headers.get('content-type')).to.equal('audio/wav');
    expect(full.body.length).to.equal(0);
    const part = await get(url(), { range: 'bytes=0-43' }, 'HEAD');
    expect(part.res.status).to.equal(206);
    expect(part.res.headers.get('content-range')).to.equal(`bytes 0-43/${audio.length}`);
  });

  // GIVEN a link with a changed signature, payload or extension, or garbage WHEN fetched THEN 403 without detail
  it('refuses tampered tokens', async () => {
    const u = url();
    const token = u.slice(`${base}/recordings/`.length);
    const [payload = '', rest = ''] = token.split('.', 2);
    const sig = rest;
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const tampered = [
      `${payload}.${flip(sig, 5)}.wav`,
      `${flip(payload, 3)}.${sig}.wav`,
      `${payload}.${sig}.mp3`,
      `${payload}.${sig}`,
      'garbage',
      '',
      `${payload}.${sig}.wav/extra`,
    ];
    for (const t of tampered) {
      const { res, body } = await get(`${base}/recordings/${t}`);
      expect(res.status, t).to.equal(403);
      expect(body.toString()).to.not.contain('signature');
    }
  });

  // GIVEN a valid token for another enterprise or file spliced into this URL WHEN fetched THEN 403
  it('refuses a signature moved to another enterprise or path', async () => {
    const mine = url().slice(`${base}/recordings/`.length);
    const other = url('sub/out.mp3', 'other').slice(`${base}/recordings/`.length);
    const otherPayload = other.split('.')[0] ?? '';
    const mySig = mine.split('.')[1] ?? '';
    const { res } = await get(`${base}/recordings/${otherPayload}.${mySig}.mp3`);
    expect(res.status).to.equal(403);
    const sameFileOtherEnterprise = url(NAME, 'evil').split('/').pop()?.split('.')[0] ?? '';
    const r2 = await get(`${base}/recordings/${sameFileOtherEnterprise}.${mySig}.wav`);
    expect(r2.res.status).to.equal(403);
  });

  // GIVEN a correctly signed link whose file is gone WHEN fetched THEN 404 with a clean JSON error
  it('answers 404 for a missing file', async () => {
    const { res, body } = await get(url('gone.wav'));
    expect(res.status).to.equal(404);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    expect(JSON.parse(body.toString())).to.deep.equal({ success: false, error: 'recording not found' });
  });

  // GIVEN signed links pointing outside the directory (.. or a symlink out) WHEN fetched THEN 403
  it('refuses paths outside the recordings directory', async () => {
    for (const rel of ['../secret.wav', 'escape.wav', path.join(root, 'secret.wav')]) {
      const { res, body } = await get(url(rel));
      expect(res.status, rel).to.equal(403);
      expect(body.toString()).to.not.contain('not yours');
    }
  });

  // GIVEN a client that aborts mid-download WHEN the server streams THEN the server stays healthy (handle closed)
  it('survives a client abort', async () => {
    const big = path.join(dir, 'big.wav');
    await writeFile(big, Buffer.alloc(8 * 1024 * 1024, 1));
    const ac = new AbortController();
    const res = await fetch(url('big.wav'), { signal: ac.signal });
    expect(res.status).to.equal(200);
    ac.abort();
    await res.body?.cancel().catch(() => undefined);
    await waitFor('the server to close the file', async () => expect(await openHandlesTo(big)).to.equal(0));
    const again = await get(url(), { range: 'bytes=0-3' });
    expect(again.body.toString('latin1')).to.equal('RIFF');
  });
});
