/**
 * Browser: a recording's MP3 link (issue 10) played by Debian's headless Chromium in an <audio> element, seeking
 * included, served by the real HttpServer and recording route. A small recording proxy in front of the server
 * notes every request's Range header and the status it got, so the test sees that the player used Range and got
 * 206. Fails, never skips, when Chromium or playwright-core is missing (as test/browser/dashboard.test.ts).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { BrowserContext } from 'playwright-core';
import { HttpServer } from '../../src/http/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { Mp3Converter } from '../../src/recordings/mp3-converter.js';
import { createRecordingLinks } from '../../src/recordings/recording-links.js';
import { recordingsPlugin } from '../../src/recordings/recording-routes.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { fixturePath } from '../helpers/paths.js';

const CHROMIUM = '/usr/bin/chromium';
const RECORDING = 'in-20261126-033902-+375291234567-1795664342.0.wav';

async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with "apt-get install -y chromium"`);
  const pw = await import('playwright-core');
  return pw.chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

interface Seen {
  readonly path: string;
  readonly range: string | undefined;
  readonly status: number;
}

/** Forwards to the service's port; serves the player page itself; notes each request's Range and status. */
function recordingProxy(target: number, seen: Seen[]): http.Server {
  return http.createServer((req, res) => {
    if (req.url === '/player') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>player</title><body></body>');
      return;
    }
    const upstream = http.request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (up) => {
      seen.push({ path: req.url ?? '', range: req.headers.range, status: up.statusCode ?? 0 });
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
}

describe('recording MP3 link in Chromium', function () {
  this.timeout(90_000);
  let dir: string;
  let server: HttpServer;
  let proxy: http.Server;
  let browser: BrowserContext;
  let base: string;
  const seen: Seen[] = [];
  const box = createSecretBox('r'.repeat(40));

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-play-'));
    const recordings = path.join(dir, 'monitor');
    await mkdir(recordings);
    await copyFile(fixturePath('recordings', RECORDING), path.join(recordings, RECORDING));
    const converter = new Mp3Converter({ workers: 1, maxQueued: 0, kbps: 32, timeoutMs: 30_000 });
    const made = await converter.convert(path.join(recordings, RECORDING), path.join(recordings, RECORDING.replace(/\.wav$/, '.mp3')));
    await converter.close();
    expect(made.ok, JSON.stringify(made)).to.equal(true);

    const logger = createLogger({ level: 'error', silent: true });
    server = new HttpServer({ logger });
    // Links are checked by signature only; the public URL matters to the test's own links below.
    const links = createRecordingLinks({ publicUrl: 'http://127.0.0.1', recordingsDir: recordings, box });
    server.register(recordingsPlugin, { links, recordingsDir: recordings, logger });
    const port = await server.listen(0, '127.0.0.1');
    proxy = recordingProxy(port, seen);
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    browser = await launchChromium(path.join(dir, 'profile'));
  });
  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (proxy?.listening ? proxy.close(() => resolve()) : resolve()));
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  // GIVEN a recording's MP3 link WHEN Chromium plays it and seeks THEN it plays past the seek point with no error, over Range requests answered 206
  it('plays and seeks the MP3 link', async () => {
    const links = createRecordingLinks({ publicUrl: base, recordingsDir: dir, box });
    const url = links.urlFor('0367', RECORDING.replace(/\.wav$/, '.mp3'));
    const page = await browser.newPage();
    await page.goto(`${base}/player`);
    // Runs in the page (plain JS: the test's TypeScript has no DOM types).
    const result = (await page.evaluate(`(async (src) => {
      const audio = document.createElement('audio');
      audio.muted = true;
      audio.preload = 'auto';
      document.body.append(audio);
      const failed = () => \`media error \${audio.error?.code ?? '?'}: \${audio.error?.message ?? ''}\`;
      const until = (what, ok) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(\`timed out: \${what} (t=\${audio.currentTime})\`)), 20_000);
          const check = () => {
            if (audio.error) {
              clearTimeout(timer);
              reject(new Error(failed()));
            } else if (ok()) {
              clearTimeout(timer);
              resolve();
            } else setTimeout(check, 25);
          };
          check();
        });
      audio.src = src;
      await until('metadata', () => audio.readyState >= 1);
      const duration = audio.duration;
      await audio.play();
      await until('playing', () => audio.currentTime > 0.3);
      audio.currentTime = 7;
      await until('seeked and playing on', () => !audio.seeking && audio.currentTime > 7.3);
      const after = audio.currentTime;
      audio.pause();
      return { duration, after, error: audio.error ? failed() : null };
    })(${JSON.stringify(url)})`)) as { duration: number; after: number; error: string | null };
    await page.close();
    expect(result.error).to.equal(null);
    expect(result.duration).to.be.within(9.5, 10.6);
    expect(result.after).to.be.greaterThan(7.3);
    const media = seen.filter((s) => s.path.endsWith('.mp3'));
    expect(media.some((s) => s.range !== undefined && s.status === 206), JSON.stringify(media)).to.equal(true);
    expect(media.every((s) => s.status === 200 || s.status === 206), JSON.stringify(media)).to.equal(true);
  });
});
