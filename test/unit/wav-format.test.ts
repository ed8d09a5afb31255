import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { checkWav, isConvertible, mp3PathFor } from '../../src/recordings/wav-format.js';
import { fixturePath } from '../helpers/paths.js';

/** A RIFF/WAVE with one fmt chunk (tag, channels, rate, bits) and `dataBytes` of silence. */
function wav(tag: number, channels: number, rate: number, bits: number, dataBytes = 320, dataSize?: number): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(tag, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  const head = Buffer.alloc(8);
  head.write('fmt ', 0, 'latin1');
  head.writeUInt32LE(16, 4);
  const dataHead = Buffer.alloc(8);
  dataHead.write('data', 0, 'latin1');
  dataHead.writeUInt32LE(dataSize ?? dataBytes, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), head, fmt, dataHead, Buffer.alloc(dataBytes)]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

describe('wav-format: what the MP3 converter accepts', () => {
  // GIVEN the real MixMonitor recording WHEN checked THEN 8 kHz mono 16-bit PCM with its data chunk
  it('accepts a MixMonitor .wav (8 kHz, 16-bit, mono)', () => {
    const check = checkWav(readFileSync(fixturePath('recordings', 'in-20261126-033902-+375291234567-1795664342.0.wav')));
    expect(check).to.deep.equal({ ok: true, format: { sampleRate: 8000, channels: 1, dataOffset: 44, dataLength: 160320 } });
  });

  // GIVEN wav16 (16 kHz) and stereo PCM WHEN checked THEN accepted
  it('accepts 16 kHz and stereo 16-bit PCM', () => {
    expect(checkWav(wav(1, 1, 16000, 16)).ok).to.equal(true);
    expect(checkWav(wav(1, 2, 8000, 16)).ok).to.equal(true);
  });

  const refused: [string, Buffer, RegExp][] = [
    ['GSM 6.10 (WAV49)', wav(0x31, 1, 8000, 0), /GSM 6\.10/],
    ['µ-law', wav(7, 1, 8000, 8), /µ-law/],
    ['8-bit PCM', wav(1, 1, 8000, 8), /8-bit/],
    ['a rate MP3 cannot carry', wav(1, 1, 96000, 16), /96000 Hz/],
    ['six channels', wav(1, 6, 8000, 16), /channel count: 6/],
    ['not a WAV at all', Buffer.from('ID3\u0004 not a wav file at all'), /not a RIFF\/WAVE/],
  ];
  for (const [label, bytes, reason] of refused) {
    // GIVEN a WAV the encoder cannot take WHEN checked THEN refused with a reason naming what it is
    it(`refuses ${label}, saying why`, () => {
      const check = checkWav(bytes);
      expect(check.ok).to.equal(false);
      expect(check.ok ? '' : check.reason).to.match(reason);
    });
  }

  // GIVEN a header never finalised (data size 0) or claiming more than is there WHEN checked THEN the bytes present, whole samples only
  it('takes the samples present when the header sizes are wrong', () => {
    const open = checkWav(wav(1, 1, 8000, 16, 321, 0));
    expect(open.ok && open.format.dataLength).to.equal(320);
    const cut = checkWav(wav(1, 1, 8000, 16, 100, 5000));
    expect(cut.ok && cut.format.dataLength).to.equal(100);
  });

  // GIVEN recording names WHEN mapped THEN the MP3 sits beside the WAV; only lower-case .wav is converted
  it('names the MP3 beside the WAV and converts only .wav', () => {
    expect(mp3PathFor('2026/11/in-1.0.wav')).to.equal('2026/11/in-1.0.mp3');
    expect(mp3PathFor('a.b/noext')).to.equal('a.b/noext.mp3');
    expect(isConvertible('in-1.0.wav')).to.equal(true);
    expect(isConvertible('in-1.0.WAV')).to.equal(false);
    expect(isConvertible('in-1.0.gsm')).to.equal(false);
  });
});
