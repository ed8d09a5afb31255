/** Unit tests of the AMI framer: banner, block boundaries, split reads, UTF-8 across reads, the buffer cap. */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { AmiFramer, type AmiFrame } from '../../src/ami/framer.js';
import { AmiProtocolError } from '../../src/lib/errors.js';
import { fixturePath } from '../helpers/paths.js';

function pushAll(framer: AmiFramer, chunks: readonly Buffer[]): AmiFrame[] {
  return chunks.flatMap((c) => framer.push(c));
}

function splitEvery(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

describe('AMI framer', () => {
  it('returns the banner line and the following blocks', () => {
    // GIVEN a fresh client-side framer WHEN the banner and a login response arrive in one read THEN both frames come out
    const framer = new AmiFramer();
    const frames = framer.push(
      Buffer.from('Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: crm-1\r\nMessage: Authentication accepted\r\n\r\n'),
    );
    expect(frames).to.have.length(2);
    expect(frames[0]).to.deep.equal({ kind: 'banner', text: 'Asterisk Call Manager/11.0.0' });
    expect(frames[1]?.kind).to.equal('block');
    expect(frames[1]?.text).to.equal('Response: Success\r\nActionID: crm-1\r\nMessage: Authentication accepted\r\n');
    expect(framer.bufferedBytes).to.equal(0);
  });

  it('waits for the banner line to be complete', () => {
    // GIVEN a banner split mid-line WHEN the first half arrives THEN nothing is returned until the LF
    const framer = new AmiFramer();
    expect(framer.push(Buffer.from('Asterisk Call Man'))).to.deep.equal([]);
    expect(framer.push(Buffer.from('ager/11.0.0\r\n'))).to.deep.equal([
      { kind: 'banner', text: 'Asterisk Call Manager/11.0.0' },
    ]);
  });

  it('keeps the leftover of an incomplete message', () => {
    // GIVEN one full and one partial message WHEN pushed THEN only the full one is returned and the rest kept
    const framer = new AmiFramer({ expectBanner: false });
    const frames = framer.push(Buffer.from('Event: A\r\n\r\nEvent: B\r\nX: 1\r\n'));
    expect(frames.map((f) => f.text)).to.deep.equal(['Event: A\r\n']);
    expect(framer.bufferedBytes).to.equal('Event: B\r\nX: 1\r\n'.length);
    expect(framer.push(Buffer.from('\r\n')).map((f) => f.text)).to.deep.equal(['Event: B\r\nX: 1\r\n']);
  });

  it('finds a terminator split between reads at every position', () => {
    // GIVEN two messages WHEN cut into two reads at every byte offset THEN the same two blocks come out
    const data = Buffer.from('Event: A\r\nK: v\r\n\r\nEvent: B\r\n\r\n');
    for (let cut = 0; cut <= data.length; cut++) {
      const framer = new AmiFramer({ expectBanner: false });
      const frames = pushAll(framer, [data.subarray(0, cut), data.subarray(cut)]);
      expect(frames.map((f) => f.text), `cut at ${cut}`).to.deep.equal(['Event: A\r\nK: v\r\n', 'Event: B\r\n']);
    }
  });

  it('tolerates bare LF line ends and stray blank lines', () => {
    // GIVEN LF-only messages with extra blank lines WHEN pushed THEN each message is one block and no empty ones
    const framer = new AmiFramer({ expectBanner: false });
    const frames = framer.push(Buffer.from('\r\nEvent: A\nK: v\n\n\nEvent: B\r\n\r\n'));
    expect(frames.map((f) => f.text)).to.deep.equal(['Event: A\nK: v\n', 'Event: B\r\n']);
  });

  it('keeps a UTF-8 character split across two reads', () => {
    // GIVEN a Cyrillic caller name whose bytes are split inside a character WHEN pushed in two reads THEN it decodes intact
    const data = Buffer.from('Event: NewCallerid\r\nCallerIDName: Анна Петрова\r\n\r\n', 'utf8');
    const inside = data.indexOf(Buffer.from('А', 'utf8')) + 1;
    const framer = new AmiFramer({ expectBanner: false });
    const frames = pushAll(framer, [data.subarray(0, inside), data.subarray(inside)]);
    expect(frames[0]?.text).to.contain('CallerIDName: Анна Петрова');
  });

  it('reports an over-long message as a protocol error instead of growing', () => {
    // GIVEN a 1 KiB cap WHEN 2 KiB arrive without a blank line THEN push throws AmiProtocolError and the buffer is freed
    const framer = new AmiFramer({ expectBanner: false, maxBufferBytes: 1024 });
    expect(() => framer.push(Buffer.alloc(2048, 'a'))).to.throw(AmiProtocolError, /exceeds 1024 bytes/);
    expect(framer.bufferedBytes).to.equal(0);
  });

  it('does not count complete messages against the cap', () => {
    // GIVEN a small cap WHEN one read holds many complete messages THEN they are all returned
    const framer = new AmiFramer({ expectBanner: false, maxBufferBytes: 64 });
    const frames = framer.push(Buffer.from('Event: Tick\r\nN: 1\r\n\r\n'.repeat(50)));
    expect(frames).to.have.length(50);
  });

  it('frames a whole real capture the same way in one read and in 7-byte reads', () => {
    // GIVEN click_to_call.ami WHEN pushed at once or in tiny chunks THEN the frames are identical, banner first
    const data = readFileSync(fixturePath('ami', 'click_to_call.ami'));
    const whole = new AmiFramer().push(data);
    const pieces = pushAll(new AmiFramer(), splitEvery(data, 7));
    expect(pieces).to.deep.equal(whole);
    expect(whole[0]).to.deep.equal({ kind: 'banner', text: 'Asterisk Call Manager/11.0.0' });
    const messageCount = data.toString('utf8').split('\r\n\r\n').length - 1;
    expect(whole.length - 1).to.equal(messageCount);
  });
});
