/** Unit: inspectRecording tells a closed MixMonitor recording from one still open, empty or missing. */
import { copyFile, mkdtemp, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { inspectRecording, parseWavHeader } from '../../src/recordings/recording-state.js';
import { fixturePath } from '../helpers/paths.js';

const FIXTURE = fixturePath('recordings', 'in-20261126-033902-+375291234567-1795664342.0.wav');

/** A 16-bit 8 kHz mono PCM WAV as Asterisk writes it; `finalised: false` leaves the sizes 0 as while recording. */
function wav(dataBytes: number, finalised: boolean): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(finalised ? 36 + dataBytes : 0, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(16000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(finalised ? dataBytes : 0, 40);
  return Buffer.concat([h, Buffer.alloc(dataBytes, 7)]);
}

describe('recording state', () => {
  let dir: string;
  const settleMs = 5_000;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-recstate-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, content: Buffer, mtimeMs: number): Promise<string> {
    const p = path.join(dir, name);
    await writeFile(p, content);
    await utimes(p, mtimeMs / 1000, mtimeMs / 1000);
    return p;
  }

  // GIVEN the real MixMonitor fixture WHEN inspected right after the call THEN ready (header sizes match the file)
  it('finds the real recording ready', async () => {
    const p = path.join(dir, path.basename(FIXTURE));
    await copyFile(FIXTURE, p);
    const now = Date.now();
    expect(await inspectRecording(p, { now, endedAt: now - 1_000, settleMs })).to.equal('ready');
    const header = parseWavHeader(wav(0, true));
    expect(header).to.deep.equal({ riffSize: 36, data: { offset: 44, size: 0 } });
  });

  // GIVEN a WAV with RIFF/data sizes 0 being written (as during /hangup) WHEN inspected THEN pending
  it('waits while MixMonitor has the file open', async () => {
    const now = Date.now();
    const p = await file('open.wav', wav(131_072, false), now - 200);
    expect(await inspectRecording(p, { now, endedAt: now - 500, settleMs })).to.equal('pending');
    // still pending once quiet for settleMs: only a finalised header, or abandonment, settles a WAV with audio
    expect(await inspectRecording(p, { now: now + 60_000, endedAt: now - 500, settleMs })).to.equal('pending');
  });

  // GIVEN a WAV never finalised (Asterisk died) and untouched for the abandonment period WHEN inspected THEN ready
  it('publishes an abandoned unfinalised WAV with audio', async () => {
    const now = Date.now();
    const p = await file('crashed.wav', wav(16_000, false), now - 3_600_000);
    expect(await inspectRecording(p, { now, endedAt: now - 3_600_000, settleMs })).to.equal('ready');
    expect(await inspectRecording(p, { now, endedAt: now - 3_600_000, settleMs, abandonedMs: 7_200_000 })).to.equal('pending');
  });

  // GIVEN a header whose sizes disagree with the file size (still growing or cut) WHEN inspected THEN pending
  it('does not trust sizes inconsistent with the file', async () => {
    const now = Date.now();
    const grown = Buffer.concat([wav(1_000, true), Buffer.alloc(500)]);
    const p1 = await file('grown.wav', grown, now);
    expect(await inspectRecording(p1, { now, endedAt: now, settleMs })).to.equal('pending');
    const cut = wav(1_000, true).subarray(0, 600);
    const p2 = await file('cut.wav', cut, now);
    expect(await inspectRecording(p2, { now, endedAt: now, settleMs })).to.equal('pending');
  });

  // GIVEN the 44-byte file of an unanswered call, closed (RIFF 36, data 0) WHEN inspected THEN empty
  it('calls a closed header-only file empty', async () => {
    const now = Date.now();
    const p = await file('noanswer.wav', wav(0, true), now - 100);
    expect(await inspectRecording(p, { now, endedAt: now - 100, settleMs })).to.equal('empty');
  });

  // GIVEN a 44-byte file with zero sizes WHEN inspected before and after settleMs THEN pending, then empty
  it('waits on an open header-only file, then calls it empty', async () => {
    const now = Date.now();
    const p = await file('open-empty.wav', wav(0, false), now - 100);
    expect(await inspectRecording(p, { now, endedAt: now - 100, settleMs })).to.equal('pending');
    expect(await inspectRecording(p, { now: now + settleMs, endedAt: now - 100, settleMs })).to.equal('empty');
  });

  // GIVEN no file WHEN inspected within the grace period and after it THEN pending, then missing
  it('treats a missing file as pending during the grace period', async () => {
    const p = path.join(dir, 'nope.wav');
    const now = Date.now();
    expect(await inspectRecording(p, { now, endedAt: now - 1_000, settleMs })).to.equal('pending');
    expect(await inspectRecording(p, { now, endedAt: now - 61_000, settleMs })).to.equal('missing');
    expect(await inspectRecording(p, { now, endedAt: now - 2_000, settleMs, missingGraceMs: 1_000 })).to.equal('missing');
    expect(await inspectRecording(path.join(dir, 'nope', 'x.wav'), { now, endedAt: 0, settleMs })).to.equal('missing');
    expect(await inspectRecording(dir, { now, endedAt: 0, settleMs })).to.equal('missing');
  });

  // GIVEN an mp3 being converted WHEN modified within settleMs THEN pending; once untouched for settleMs THEN ready
  it('settles non-WAV formats by modification time', async () => {
    const now = Date.now();
    const mp3 = Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00', 'latin1'), Buffer.alloc(4_000, 0xff)]);
    const p = await file('in.mp3', mp3, now - 1_000);
    expect(await inspectRecording(p, { now, endedAt: now - 10_000, settleMs })).to.equal('pending');
    expect(await inspectRecording(p, { now: now + settleMs, endedAt: now - 10_000, settleMs })).to.equal('ready');
    // the file is old but the call ended just now: the converter may still be about to rewrite it
    const old = await file('old.gsm', Buffer.alloc(3_300, 1), now - 600_000);
    expect(await inspectRecording(old, { now, endedAt: now - 1_000, settleMs })).to.equal('pending');
    const empty = await file('empty.ogg', Buffer.alloc(0), now - 600_000);
    expect(await inspectRecording(empty, { now, endedAt: now - 600_000, settleMs })).to.equal('empty');
  });

  // GIVEN a 3 GB (sparse) finalised recording WHEN inspected THEN answered at once: only the header is read
  it('reads only the header', async function () {
    this.timeout(2_000);
    const now = Date.now();
    const dataBytes = 3 * 1024 * 1024 * 1024;
    const p = path.join(dir, 'huge.wav');
    const header = wav(0, true);
    header.writeUInt32LE(36 + dataBytes, 4);
    header.writeUInt32LE(dataBytes, 40);
    await writeFile(p, header);
    await truncate(p, 44 + dataBytes);
    await utimes(p, (now - 10_000) / 1000, (now - 10_000) / 1000);
    expect(await inspectRecording(p, { now, endedAt: now - 10_000, settleMs })).to.equal('ready');
  });
});
