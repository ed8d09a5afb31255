/** Unit tests for the FastAGI line framer (bytes → lines). */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { AgiProtocolError } from '../../src/lib/errors.js';
import { LineFramer, splitLines } from '../../src/agi/framer.js';
import { fixturePath } from '../helpers/paths.js';

interface WireChunk {
  dir: string;
  data?: string;
}

describe('agi framer', () => {
  it('splits on \\n and keeps \\r as data', () => {
    // GIVEN a chunk with CRLF and LF lines WHEN framed THEN only \n ends a line and \r stays in it
    const f = new LineFramer();
    expect(f.push(Buffer.from('200 result=1 (abc\r)\nANSWER\r\nX'))).to.deep.equal(['200 result=1 (abc\r)', 'ANSWER\r']);
    expect(f.leftover.toString()).to.equal('X');
  });

  it('returns empty lines (the end of the env block)', () => {
    // GIVEN the last env line and the empty terminator WHEN framed THEN the empty line is reported
    expect(new LineFramer().push(Buffer.from('agi_threadid: 1\n\n'))).to.deep.equal(['agi_threadid: 1', '']);
  });

  it('joins a line split across reads, including inside a UTF-8 character', () => {
    // GIVEN a Cyrillic name cut in the middle of a 2-byte character WHEN fed in two chunks THEN it decodes whole
    const bytes = Buffer.from('agi_calleridname: Иван "Тест" Петров\nagi_dnid: unknown\n');
    const cut = bytes.indexOf(Buffer.from('Иван')) + 1; // after the first byte of "И"
    const f = new LineFramer();
    expect(f.push(bytes.subarray(0, cut))).to.deep.equal([]);
    expect(f.leftover.length).to.equal(cut);
    expect(f.push(bytes.subarray(cut))).to.deep.equal(['agi_calleridname: Иван "Тест" Петров', 'agi_dnid: unknown']);
    expect(f.leftover.length).to.equal(0);
  });

  it('survives a 4-byte emoji fed one byte at a time', () => {
    // GIVEN a line with an emoji WHEN every byte arrives alone THEN the line decodes exactly once and intact
    const bytes = Buffer.from('200 result=1 (Мария 🌸 | ; ,)\n');
    const f = new LineFramer();
    const lines: string[] = [];
    for (const b of bytes) lines.push(...f.push(Buffer.from([b])));
    expect(lines).to.deep.equal(['200 result=1 (Мария 🌸 | ; ,)']);
  });

  it('frames the env block of a real session exactly as Asterisk chunked it', () => {
    // GIVEN the recorded TCP chunks of agi_args__incoming WHEN framed THEN we get the recorded env lines then ''
    const flow = JSON.parse(readFileSync(fixturePath('agi', 'agi_args__incoming.json'), 'utf8')) as {
      env: Array<[string, string]>;
      wire: WireChunk[];
    };
    const f = new LineFramer();
    const lines: string[] = [];
    const envChunks = flow.wire.filter((w) => w.dir === '>>' && w.data !== undefined).slice(0, 2);
    expect(envChunks.length).to.equal(2);
    for (const w of envChunks) lines.push(...f.push(Buffer.from(w.data as string)));
    const envEnd = lines.indexOf('');
    expect(lines.slice(0, envEnd)).to.deep.equal(flow.env.map(([k, v]) => `${k}: ${v}`));
    expect(lines).to.include('agi_accountcode: ');
  });

  it('rejects an over-long complete line', () => {
    // GIVEN a 33-byte line and a 32-byte cap WHEN framed THEN a protocol error is thrown
    expect(() => splitLines(Buffer.from(`${'x'.repeat(33)}\n`), 32)).to.throw(AgiProtocolError);
    expect(splitLines(Buffer.from(`${'x'.repeat(32)}\n`), 32).lines).to.deep.equal(['x'.repeat(32)]);
  });

  it('rejects an over-long unfinished line before its newline arrives', () => {
    // GIVEN a peer that streams bytes without a newline WHEN the cap is passed THEN the framer throws
    const f = new LineFramer(16);
    expect(f.push(Buffer.from('x'.repeat(16)))).to.deep.equal([]);
    expect(() => f.push(Buffer.from('y'))).to.throw(AgiProtocolError, /longer than 16 bytes/);
  });

  it('defaults to a 16 KiB cap', () => {
    // GIVEN the default framer WHEN a 16 KiB line arrives THEN it passes, and 16 KiB + 1 fails
    expect(new LineFramer().push(Buffer.from(`${'a'.repeat(16384)}\n`))[0]?.length).to.equal(16384);
    expect(() => new LineFramer().push(Buffer.from(`${'a'.repeat(16385)}\n`))).to.throw(AgiProtocolError);
  });
});
