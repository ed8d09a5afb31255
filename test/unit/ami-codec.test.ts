/** Unit tests of the AMI codec and typed events, against real Asterisk 22 captures (test/fixtures/ami/). */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { AmiMessage, formatAction, parseLines, parseMessage } from '../../src/ami/codec.js';
import { AmiFramer } from '../../src/ami/framer.js';
import { decodeEvent, originateReasonName, OriginateReason, type AmiTypedEvent } from '../../src/ami/types.js';
import { AmiProtocolError } from '../../src/lib/errors.js';
import { fixturePath } from '../helpers/paths.js';

function readCapture(name: string): AmiMessage[] {
  const frames = new AmiFramer({ maxBufferBytes: 16 * 1024 * 1024 }).push(readFileSync(fixturePath('ami', `${name}.ami`)));
  return frames.filter((f) => f.kind === 'block').map((f) => parseMessage(f.text));
}

function eventCounts(messages: readonly AmiMessage[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of messages) if (m.kind === 'event') counts[m.type] = (counts[m.type] ?? 0) + 1;
  return counts;
}

function typed(messages: readonly AmiMessage[]): AmiTypedEvent[] {
  return messages.map(decodeEvent).filter((e): e is AmiTypedEvent => e !== undefined);
}

const CAPTURES = [
  'click_to_call',
  'click_to_call_local',
  'click_to_call_agent_busy',
  'click_to_call_agent_noanswer',
  'click_to_call_customer_busy',
  'originate_bad_channel',
  'actions_during_call',
  'blind_transfer',
  'attended_transfer',
  'inbound_answered',
];

describe('AMI codec', () => {
  describe('parsing real captures', () => {
    for (const name of CAPTURES) {
      it(`counts the same events per type as ${name}.meta.json`, () => {
        // GIVEN a real capture WHEN every message is parsed THEN the per-type event counts match the recorded ones
        const meta = JSON.parse(readFileSync(fixturePath('ami', `${name}.meta.json`), 'utf8')) as {
          event_counts?: Record<string, number>;
        };
        const messages = readCapture(name);
        expect(meta.event_counts, 'meta has event_counts').to.be.an('object');
        expect(eventCounts(messages)).to.deep.equal(meta.event_counts);
      });
    }

    it('parses every message of login_failed.ami', () => {
      // GIVEN the refused login capture WHEN parsed THEN one Error response saying Authentication failed
      const [m, ...rest] = readCapture('login_failed');
      expect(rest).to.have.length(0);
      expect(m?.kind).to.equal('response');
      expect(m?.type).to.equal('Error');
      expect(m?.get('message')).to.equal('Authentication failed');
      expect(m?.actionId).to.equal('crm-1');
    });
  });

  describe('AmiMessage', () => {
    it('gives lowercased-key access and keeps empty values', () => {
      // GIVEN a Newchannel block WHEN parsed THEN fields are reachable in any case and `AccountCode: ` is ''
      const m = parseMessage('Event: Newchannel\r\nChannel: IAX2/101-12400\r\nAccountCode: \r\nEventTV: 2026-11-26T03:41:25.468+0000\r\n');
      expect(m.kind).to.equal('event');
      expect(m.type).to.equal('Newchannel');
      expect(m.fields['channel']).to.equal('IAX2/101-12400');
      expect(m.get('CHANNEL')).to.equal('IAX2/101-12400');
      expect(m.get('accountcode')).to.equal('');
      expect(m.get('EventTV')).to.equal('2026-11-26T03:41:25.468+0000');
    });

    it('keeps repeated Variable lines in order (Status with AllVariables)', () => {
      // GIVEN the Status answer with AllVariables in actions_during_call WHEN parsed THEN every Variable line survives
      const status = readCapture('actions_during_call').find((m) => m.type === 'Status' && m.all('Variable').length > 0);
      expect(status).to.not.equal(undefined);
      expect(status?.all('variable')).to.deep.equal(['BRIDGEPEER=IAX2/trunk-12302', 'DIALEDPEERNUMBER=101/101']);
      expect(status?.variables).to.deep.equal({ BRIDGEPEER: 'IAX2/trunk-12302', DIALEDPEERNUMBER: '101/101' });
    });

    it('keeps every Output line of a Command response', () => {
      // GIVEN the `core show channels concise` answer WHEN parsed THEN both Output lines are kept in order
      const cmd = readCapture('actions_during_call').find((m) => m.actionId === 'crm-16');
      expect(cmd?.get('message')).to.equal('Command output follows');
      expect(cmd?.output).to.have.length(2);
      expect(cmd?.output[0]).to.match(/^IAX2\/101-14883!from-internal!/);
      expect(cmd?.output[1]).to.match(/^IAX2\/trunk-12302!from-trunk!/);
    });

    it('keeps ChanVariable lines and bare lines', () => {
      // GIVEN a Cdr-like event with ChanVariable(...) keys and an old-style bare output line WHEN parsed THEN nothing is lost
      const m = parseMessage('Event: X\r\nChanVariable(IAX2/101-1): A=1\r\nChanVariable(IAX2/101-1): B=2\r\nbare text\r\n');
      expect(m.variables).to.deep.equal({ A: '1', B: '2' });
      expect(m.output).to.deep.equal(['bare text']);
      expect(m.lines).to.have.length(4);
    });

    it('marks event lists', () => {
      // GIVEN the CoreShowChannels answer WHEN parsed THEN the response says start and the last event Complete
      const messages = readCapture('actions_during_call').filter((m) => m.actionId === 'crm-5');
      expect(messages.map((m) => m.eventList)).to.deep.equal(['start', undefined, undefined, 'complete']);
    });

    it('refuses a block that is neither a response nor an event', () => {
      // GIVEN an action block WHEN parsed as a server message THEN AmiProtocolError
      expect(() => parseMessage('Action: Ping\r\nActionID: 1\r\n')).to.throw(AmiProtocolError);
      expect(() => parseMessage('\r\n')).to.throw(AmiProtocolError);
    });
  });

  describe('formatAction', () => {
    it('writes CRLF lines ending with an empty line, arrays as repeated keys', () => {
      // GIVEN an Originate with two variables WHEN formatted THEN the bytes match Asterisk's expected layout
      const bytes = formatAction(
        'Originate',
        { Channel: 'IAX2/101/101', Priority: 1, Async: true, CallerID: undefined, Variable: ['A=1', 'B=Анна'] },
        'c2c-7',
      );
      expect(bytes.toString('utf8')).to.equal(
        'Action: Originate\r\nActionID: c2c-7\r\nChannel: IAX2/101/101\r\nPriority: 1\r\nAsync: true\r\nVariable: A=1\r\nVariable: B=Анна\r\n\r\n',
      );
    });

    it('round-trips through parseLines', () => {
      // GIVEN a formatted Login WHEN its lines are parsed back THEN the same keys and values come out
      const lines = parseLines(formatAction('Login', { Username: 'crm', Secret: 'a: b', Events: 'on' }, 'x-1').toString());
      expect(lines).to.deep.equal([
        { key: 'Action', value: 'Login' },
        { key: 'ActionID', value: 'x-1' },
        { key: 'Username', value: 'crm' },
        { key: 'Secret', value: 'a: b' },
        { key: 'Events', value: 'on' },
      ]);
    });

    for (const [label, value] of [
      ['LF', 'x\nAction: Hangup'],
      ['CR', 'x\rAction: Hangup'],
      ['CRLF', '101\r\n\r\nAction: Originate'],
    ] as const) {
      it(`refuses ${label} in a value (AMI injection)`, () => {
        // GIVEN a value with a line break WHEN formatted THEN AmiProtocolError, nothing produced
        expect(() => formatAction('Originate', { Channel: value }, 'id-1')).to.throw(AmiProtocolError, /CR or LF/);
        expect(() => formatAction('Originate', { Variable: ['OK=1', value] }, 'id-1')).to.throw(AmiProtocolError);
      });
    }

    it('refuses CR/LF in the ActionID, bad keys and caller-set ActionID', () => {
      // GIVEN unsafe keys or ids WHEN formatted THEN AmiProtocolError
      expect(() => formatAction('Ping', {}, 'a\r\nAction: Logoff')).to.throw(AmiProtocolError);
      expect(() => formatAction('Ping', { 'X\r\nY': '1' }, 'a')).to.throw(AmiProtocolError);
      expect(() => formatAction('Ping', { 'Bad Key': '1' }, 'a')).to.throw(AmiProtocolError);
      expect(() => formatAction('Ping', { ActionID: 'other' }, 'a')).to.throw(AmiProtocolError);
      expect(() => formatAction('Ping\r\nX', {}, 'a')).to.throw(AmiProtocolError);
    });
  });

  describe('typed events', () => {
    it('decodes OriginateResponse Success with the agent uniqueid', () => {
      // GIVEN click_to_call.ami WHEN its OriginateResponse is decoded THEN Success, reason 4, uniqueid of the agent leg
      const [ev] = typed(readCapture('click_to_call')).filter((e) => e.event === 'OriginateResponse');
      expect(ev).to.deep.equal({
        event: 'OriginateResponse',
        actionId: 'c2c-0001',
        response: 'Success',
        reason: OriginateReason.Answered,
        uniqueid: '1795664485.30',
        channel: 'IAX2/101-12400',
        context: 'from-internal',
        exten: '+375297654321',
        callerIdNum: '101',
        callerIdName: 'CRM: +375297654321',
      });
    });

    for (const [capture, reason, name] of [
      ['click_to_call_agent_noanswer', 3, 'no answer'],
      ['click_to_call_agent_busy', 5, 'busy'],
      ['originate_bad_channel', 0, 'failure'],
    ] as const) {
      it(`decodes OriginateResponse Failure reason ${reason} from ${capture}`, () => {
        // GIVEN a failed click-to-call capture WHEN decoded THEN Failure with the numeric reason and no uniqueid
        const ev = typed(readCapture(capture)).find((e) => e.event === 'OriginateResponse');
        expect(ev?.event === 'OriginateResponse' && ev.response).to.equal('Failure');
        expect(ev?.event === 'OriginateResponse' && ev.reason).to.equal(reason);
        expect(ev?.event === 'OriginateResponse' && ev.uniqueid).to.equal(undefined);
        expect(originateReasonName(reason)).to.equal(name);
      });
    }

    it('names the reason codes', () => {
      // GIVEN the known codes WHEN named THEN readable names; unknown codes say so
      expect(originateReasonName(OriginateReason.Congestion)).to.equal('congestion');
      expect(originateReasonName(42)).to.equal('reason 42');
    });

    it('decodes the call events of blind_transfer.ami', () => {
      // GIVEN the blind transfer capture WHEN decoded THEN transfer, dial, bridge, hangup and CDR fields are typed
      const events = typed(readCapture('blind_transfer'));
      const transfer = events.find((e) => e.event === 'BlindTransfer');
      expect(transfer).to.include({ result: 'Success', isExternal: true, extension: '102', context: 'from-internal' });
      const dialEnd = events.find((e) => e.event === 'DialEnd');
      expect(dialEnd?.event === 'DialEnd' && dialEnd.dialStatus).to.equal('ANSWER');
      const hangup = events.find((e) => e.event === 'Hangup');
      expect(hangup?.event === 'Hangup' && hangup.cause).to.be.a('number').and.not.NaN;
      const cdrs = events.filter((e) => e.event === 'Cdr');
      expect(cdrs).to.have.length(2);
      const bridge = events.find((e) => e.event === 'BridgeEnter');
      expect(bridge?.event === 'BridgeEnter' && bridge.bridgeUniqueid).to.match(/^[0-9a-f-]{36}$/);
    });

    it('decodes AttendedTransfer, Newchannel, DialBegin and Cdr from attended_transfer.ami', () => {
      // GIVEN the attended transfer capture WHEN decoded THEN the typed views carry the real values
      const events = typed(readCapture('attended_transfer'));
      expect(events.find((e) => e.event === 'AttendedTransfer')).to.include({
        result: 'Success',
        isExternal: false,
        destType: 'Bridge',
        transferTargetChannel: 'Local/102@from-internal-00000002;1',
      });
      expect(events.find((e) => e.event === 'Newchannel')).to.include({
        channel: 'IAX2/trunk-6247',
        callerIdNum: '+375291234567',
        exten: '17175550100',
        context: 'from-trunk',
        channelState: 4,
      });
      expect(events.find((e) => e.event === 'DialBegin')).to.include({ destChannel: 'IAX2/101-16099', dialString: '101/101' });
      const cdr = events.find((e) => e.event === 'Cdr');
      expect(cdr).to.include({ disposition: 'ANSWERED', duration: 9, billableSeconds: 9, recordingFile: '' });
      expect(events.filter((e) => e.event === 'Cdr')).to.have.length(7);
    });

    it('decodes FullyBooted and ignores untyped events', () => {
      // GIVEN the start of click_to_call.ami WHEN decoded THEN FullyBooted is typed and VarSet is not
      const messages = readCapture('click_to_call');
      expect(decodeEvent(messages.find((m) => m.type === 'FullyBooted') as AmiMessage)).to.deep.equal({
        event: 'FullyBooted',
        status: 'Fully Booted',
        uptime: 148,
      });
      expect(decodeEvent(messages.find((m) => m.type === 'VarSet') as AmiMessage)).to.equal(undefined);
    });
  });
});
