/** Unit: signed recording links (shape, round trip, tampering) and the outbox's ready/pending/none decision. */
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { createRecordingLinks, recordingExtension } from '../../src/recordings/recording-links.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';

function finalisedWav(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return Buffer.concat([h, Buffer.alloc(dataBytes, 3)]);
}

describe('recording links', () => {
  const box = createSecretBox('q'.repeat(40));
  let root: string;
  let dir: string;
  let now: number;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'rcrm-reclinks-'));
    dir = path.join(root, 'monitor');
    await writeFile(path.join(root, 'outside.wav'), finalisedWav(100));
    await mkdir(dir);
    now = Date.now();
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const links = (): ReturnType<typeof createRecordingLinks> =>
    createRecordingLinks({ publicUrl: 'https://pbx.example.com/', recordingsDir: dir, box, settleMs: 5_000, now: () => now });

  // GIVEN an enterprise and a file WHEN a URL is made THEN https base, opaque payload, signature, the file's extension
  it('builds unguessable URLs that parse back', () => {
    const l = links();
    const u = l.urlFor('acme', 'in-20261126-041617-+375291234567-1795666576.152.wav');
    expect(u).to.match(/^https:\/\/pbx\.example\.com\/recordings\/[A-Za-z0-9_-]+\.[0-9a-f]{12}\.[A-Za-z0-9_-]{32}\.wav$/);
    expect(u).to.not.contain('acme').and.not.contain('375291234567');
    const token = u.slice('https://pbx.example.com/recordings/'.length);
    expect(l.parse(token)).to.deep.equal({ enterprise: 'acme', relativePath: 'in-20261126-041617-+375291234567-1795666576.152.wav' });
    expect(recordingExtension('a/b.c/name')).to.equal('');
    expect(recordingExtension('x.w?v')).to.equal('');
    expect(l.parse(l.urlFor('acme', 'noext').split('/').pop() ?? '')).to.deep.equal({ enterprise: 'acme', relativePath: 'noext' });
  });

  // GIVEN tokens signed with another key, edited or oversized WHEN parsed THEN null
  it('rejects foreign and edited tokens', () => {
    const l = links();
    const other = createRecordingLinks({ publicUrl: 'https://x', recordingsDir: dir, box: createSecretBox('z'.repeat(40)) });
    const foreign = other.urlFor('acme', 'a.wav').split('/').pop() ?? '';
    expect(l.parse(foreign)).to.equal(null);
    const mine = l.urlFor('acme', 'a.wav').split('/').pop() ?? '';
    expect(l.parse(mine.replace('.wav', '.mp3'))).to.equal(null);
    expect(l.parse(mine.replace('.wav', ''))).to.equal(null);
    expect(l.parse(`x${mine}`)).to.equal(null);
    expect(l.parse('a'.repeat(5000))).to.equal(null);
    expect(l.parse('')).to.equal(null);
  });

  // GIVEN a finalised recording reported by absolute path WHEN resolved after the call THEN ready with its URL
  it('resolves a ready recording to its URL', async () => {
    const abs = path.join(dir, 'in-1.wav');
    await writeFile(abs, finalisedWav(1_000));
    const r = await links().resolve('acme', abs, now - 2_000);
    expect(r).to.deep.equal({ status: 'ready', url: links().urlFor('acme', 'in-1.wav') });
  });

  // GIVEN a WAV still open (sizes 0) WHEN resolved THEN pending; a missing file within the grace period too
  it('answers pending while the file is open or not there yet', async () => {
    const open = finalisedWav(1_000);
    open.writeUInt32LE(0, 4);
    open.writeUInt32LE(0, 40);
    await writeFile(path.join(dir, 'open.wav'), open);
    expect(await links().resolve('acme', 'open.wav', now - 500)).to.deep.equal({ status: 'pending' });
    expect(await links().resolve('acme', 'later.wav', now - 500)).to.deep.equal({ status: 'pending' });
  });

  // GIVEN an empty recording, a long-missing one, one outside the directory or none at all WHEN resolved THEN none
  it('answers none when there is nothing to publish', async () => {
    const empty = path.join(dir, 'empty.wav');
    await writeFile(empty, finalisedWav(0));
    await utimes(empty, (now - 10_000) / 1000, (now - 10_000) / 1000);
    await symlink(path.join(root, 'outside.wav'), path.join(dir, 'link.wav'));
    const l = links();
    expect(await l.resolve('acme', empty, now - 10_000)).to.deep.equal({ status: 'none', reason: 'empty' });
    expect(await l.resolve('acme', 'gone.wav', now - 3_600_000)).to.deep.equal({ status: 'none', reason: 'missing' });
    expect(await l.resolve('acme', path.join(root, 'outside.wav'), now)).to.deep.equal({ status: 'none', reason: 'outside' });
    expect(await l.resolve('acme', 'link.wav', now)).to.deep.equal({ status: 'none', reason: 'outside' });
    expect(await l.resolve('acme', '../outside.wav', now)).to.deep.equal({ status: 'none', reason: 'outside' });
    expect(await l.resolve('acme', '', now)).to.deep.equal({ status: 'none', reason: 'no-file' });
    expect(await l.resolve('acme', undefined, now)).to.deep.equal({ status: 'none', reason: 'no-file' });
  });
});
