/** Unit tests for the FastAGI codec: env block, script path, responses, argument quoting, command lines. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { AgiProtocolError } from '../../src/lib/errors.js';
import {
  formatCommand,
  MAX_COMMAND_LINE_BYTES,
  parseEnvironment,
  parseResponse,
  parseScriptPath,
  quoteArgument,
  ResponseAssembler,
  responseCode,
  scriptOfEnvironment,
} from '../../src/agi/codec.js';
import { listAgiFlows, loadAgiFlow } from '../fakes/agi-fixtures.js';
import { parseAgiArgs } from '../fakes/fake-asterisk.js';
import { fixturePath } from '../helpers/paths.js';

function realEnvLines(file: string): string[] {
  const raw = JSON.parse(readFileSync(fixturePath('agi', file), 'utf8')) as { env: string };
  return raw.env.split('\n');
}

/** What Asterisk's parse_args() makes of our formatted argument. */
function asteriskReads(quoted: string): string[] {
  return parseAgiArgs(quoted);
}

describe('agi codec', () => {
  describe('parseEnvironment', () => {
    it('reads the env block of a real /incoming session with arguments', () => {
      // GIVEN the raw env of fastagi-real-incoming WHEN parsed THEN every field, args and the query come out
      const env = parseEnvironment(realEnvLines('fastagi-real-incoming.json'));
      expect(env.network).to.equal('yes');
      expect(env.networkScript).to.equal('incoming?tenant=acme');
      expect(env.request).to.equal('agi://127.0.0.1:14573/incoming?tenant=acme');
      expect(env.channel).to.equal('Local/17175550100@agi-test-00000000;2');
      expect(env.language).to.equal('ru');
      expect(env.type).to.equal('Local');
      expect(env.uniqueid).to.equal('1795664234.1');
      expect(env.version).to.equal('22.10.1');
      expect(env.callerid).to.equal('+375291234567');
      expect(env.calleridname).to.equal('unknown');
      expect(env.callingpres).to.equal('0');
      expect(env.dnid).to.equal('unknown');
      expect(env.rdnis).to.equal('unknown');
      expect(env.context).to.equal('agi-test');
      expect(env.extension).to.equal('17175550100');
      expect(env.priority).to.equal('5');
      expect(env.enhanced).to.equal('0.0');
      expect(env.accountcode).to.equal('acme');
      expect(env.threadid).to.equal('139990312625856');
      expect(env.args).to.deep.equal(['+375291234567', '17175550100', 'arg with space']);
      expect(env.raw.get('agi_callingtns')).to.equal('0');
    });

    it('keeps an empty accountcode and a trailing empty argument', () => {
      // GIVEN agi_args__incoming ("agi_accountcode: " and "agi_arg_3: ") WHEN parsed THEN both are ''
      const flow = loadAgiFlow('agi_args__incoming');
      expect(flow.envLines).to.include('agi_accountcode: ');
      const env = parseEnvironment([...flow.envLines, '']);
      expect(env.accountcode).to.equal('');
      expect(env.args).to.deep.equal(['+375291234567', 'with space', '']);
      expect(scriptOfEnvironment(env).script).to.equal('incoming');
      expect(scriptOfEnvironment(env).query.get('enterprise')).to.equal('0367');
      expect(scriptOfEnvironment(env).query.get('did')).to.equal('17175550109');
    });

    it('handles a request without a script path', () => {
      // GIVEN fastagi-real-noscript (no agi_network_script) WHEN parsed THEN script is '' from agi_request
      const env = parseEnvironment(realEnvLines('fastagi-real-noscript.json'));
      expect(env.networkScript).to.equal(undefined);
      expect(scriptOfEnvironment(env)).to.deep.include({ script: '' });
    });

    it('parses all 54 recorded sessions', () => {
      // GIVEN every recorded flow WHEN its env is parsed THEN uniqueid and script match the recording
      const flows = listAgiFlows();
      expect(flows).to.have.length(54);
      for (const name of flows) {
        const flow = loadAgiFlow(name);
        const env = parseEnvironment(flow.envLines);
        expect(env.uniqueid, name).to.match(/^\d+\.\d+$/);
        expect(scriptOfEnvironment(env).script, name).to.equal(flow.script);
        expect(scriptOfEnvironment(env).query.get('enterprise'), name).to.equal('0367');
        expect(env.calleridname, name).to.equal(flow.env.find(([k]) => k === 'agi_calleridname')?.[1]);
      }
    });

    it('rejects garbage', () => {
      // GIVEN lines that are not agi_ lines WHEN parsed THEN AgiProtocolError
      expect(() => parseEnvironment(['GET / HTTP/1.1', 'Host: x'])).to.throw(AgiProtocolError);
      expect(() => parseEnvironment([''])).to.throw(AgiProtocolError);
      expect(() => parseEnvironment(['agi_'])).to.throw(AgiProtocolError);
    });
  });

  describe('parseScriptPath', () => {
    const cases: Array<[string, string, Record<string, string>]> = [
      ['incoming?enterprise=0367&did=1717', 'incoming', { enterprise: '0367', did: '1717' }],
      ['/incoming?enterprise=0367', 'incoming', { enterprise: '0367' }],
      ['//hangup', 'hangup', {}],
      ['agi://127.0.0.1:4577/outgoing?enterprise=0367', 'outgoing', { enterprise: '0367' }],
      ['agi://127.0.0.1:14573', '', {}],
      ['agi://127.0.0.1:4573?enterprise=1', '', { enterprise: '1' }],
      ['incoming', 'incoming', {}],
      ['incoming?name=%D0%98&x=a+b', 'incoming', { name: 'И', x: 'a b' }],
    ];
    for (const [input, script, query] of cases) {
      it(`${input} → ${script || "''"}`, () => {
        // GIVEN a script path as Asterisk sends it WHEN parsed THEN script and query are split
        const r = parseScriptPath(input);
        expect(r.script).to.equal(script);
        expect(Object.fromEntries(r.query)).to.deep.equal(query);
      });
    }
  });

  describe('parseResponse', () => {
    it('matches every recorded answer of every session', () => {
      // GIVEN all recorded command/response pairs WHEN each response is parsed THEN code/result/value match
      let checked = 0;
      for (const name of listAgiFlows()) {
        for (const ex of loadAgiFlow(name).exchanges) {
          const lines = ex.response.replace(/\n$/, '').split('\n');
          const r = parseResponse(lines);
          expect(r.code, ex.cmd).to.equal(ex.parsed.code);
          if (ex.parsed.code === 200) {
            expect(r.result, ex.cmd).to.equal(ex.parsed.result);
            expect(r.value, ex.cmd).to.equal(ex.parsed.value);
          }
          checked++;
        }
      }
      expect(checked).to.be.greaterThan(2000);
    });

    it('takes the value between the first ( and the last )', () => {
      // GIVEN CALLERID(all) with unescaped quotes and a cause with parentheses WHEN parsed THEN the full value
      expect(parseResponse(['200 result=1 ("Иван "Тест" Петров" <+375291234567>)']).value).to.equal(
        '"Иван "Тест" Петров" <+375291234567>',
      );
      expect(parseResponse(['200 result=1 (IAX2 HANGUP (16))']).value).to.equal('IAX2 HANGUP (16)');
      expect(parseResponse(['200 result=1 (a) b (c)']).value).to.equal('a) b (c');
    });

    it('distinguishes result=0, empty and missing values', () => {
      // GIVEN the three 200 forms WHEN parsed THEN result and value tell them apart
      expect(parseResponse(['200 result=0'])).to.deep.include({ code: 200, result: '0', value: undefined, data: '' });
      expect(parseResponse(['200 result=1 ()'])).to.deep.include({ result: '1', value: '' });
      expect(parseResponse(['200 result=1'])).to.deep.include({ result: '1', value: undefined });
      expect(parseResponse(['200 result=-1'])).to.deep.include({ result: '-1', value: undefined });
      expect(parseResponse(['200 result=0 endpos=1234'])).to.deep.include({ result: '0', data: 'endpos=1234' });
    });

    it('parses 510 and 511', () => {
      // GIVEN an unknown command and a dead-channel answer WHEN parsed THEN code and message
      expect(parseResponse(['510 Invalid or unknown command'])).to.deep.include({
        code: 510,
        result: '',
        data: 'Invalid or unknown command',
      });
      expect(parseResponse(['511 Command Not Permitted on a dead channel or intercept routine']).code).to.equal(511);
    });

    it('parses a multi-line 520 usage answer', () => {
      // GIVEN the real 520 answer to `SET VARIABLE FOO bar baz` WHEN parsed THEN one 520 response with its text
      const r = parseResponse([
        '520-Invalid command syntax.  Proper usage follows:',
        'Sets a variable to the current channel.',
        '520 End of proper usage.',
      ]);
      expect(r.code).to.equal(520);
      expect(r.data).to.equal('Invalid command syntax.  Proper usage follows:\nSets a variable to the current channel.\nEnd of proper usage.');
      expect(r.lines).to.have.length(3);
    });

    it('rejects a line that is not a response', () => {
      // GIVEN a non-numeric line WHEN parsed THEN AgiProtocolError
      expect(() => parseResponse(['HANGUP'])).to.throw(AgiProtocolError);
      expect(() => parseResponse([])).to.throw(AgiProtocolError);
      expect(responseCode('20x ok')).to.equal(-1);
      expect(responseCode('200')).to.equal(200);
      expect(responseCode('2000')).to.equal(-1);
    });
  });

  describe('ResponseAssembler', () => {
    it('completes single lines at once and 520 only at the "520 " line', () => {
      // GIVEN a 520 answer whose usage text contains "200 result=1 (...)" WHEN fed line by line THEN it ends at "520 "
      const a = new ResponseAssembler();
      expect(a.push('200 result=1 (x)')).to.deep.equal(['200 result=1 (x)']);
      expect(a.push('520-Invalid command syntax.  Proper usage follows:')).to.equal(undefined);
      expect(a.inProgress).to.equal(true);
      expect(a.push('Example return code: 200 result=1 (testvariable)')).to.equal(undefined);
      expect(a.push('520 End of proper usage.')).to.have.length(3);
      expect(a.inProgress).to.equal(false);
      expect(() => a.push('garbage')).to.throw(AgiProtocolError);
    });
  });

  describe('quoteArgument', () => {
    const roundTrips: Array<[string, string, string]> = [
      ['quotes', 'Иван "Тест" Петров', '"Иван \\"Тест\\" Петров"'],
      ['a comma', 'Ivanov, Ivan', '"Ivanov, Ivan"'],
      ['a pipe and semicolon', 'a|b;c', '"a|b;c"'],
      ['backslashes', 'C:\\dir\\', '"C:\\\\dir\\\\"'],
      ['dialplan syntax', '${SHELL(id)}', '"${SHELL(id)}"'],
      ['an emoji', 'Мария 🌸', '"Мария 🌸"'],
      ['an empty value', '', '""'],
    ];
    for (const [what, value, expected] of roundTrips) {
      it(`quotes ${what} so Asterisk reads the value back unchanged`, () => {
        // GIVEN a customer name WHEN quoted THEN the text is as expected and parse_args() yields the original
        const q = quoteArgument(value);
        expect(q).to.equal(expected);
        expect(asteriskReads(`SET VARIABLE X ${q}`)).to.deep.equal(['SET', 'VARIABLE', 'X', value]);
      });
    }

    it('removes CR, LF and other control characters', () => {
      // GIVEN a name with newlines, CR, tab, NUL, DEL and a C1 control WHEN quoted THEN they are gone
      const q = quoteArgument('Ivan\r\nPetrov\tX\u0000Y\u007fZ\u0085!');
      expect(q).to.equal('"IvanPetrovXYZ!"');
      expect(q).to.not.match(/[\r\n]/);
    });

    it('keeps a 300-character name whole', () => {
      // GIVEN a 300-character Cyrillic name (600 bytes) WHEN quoted THEN nothing is cut
      const name = 'Щ'.repeat(300);
      expect(asteriskReads(`SET VARIABLE X ${quoteArgument(name)}`)[3]).to.equal(name);
    });

    it('caps bytes on a character boundary, never inside UTF-8, a surrogate pair or an escape', () => {
      // GIVEN values that overflow the budget at awkward places WHEN quoted THEN the result fits and decodes cleanly
      for (let max = 2; max < 20; max++) {
        for (const value of ['ЩЩЩЩЩЩЩЩЩЩ', '🌸🌸🌸🌸🌸', 'a"b"c"d"e"f"g"h', 'x\\y\\z\\w\\v\\u\\']) {
          const q = quoteArgument(value, max);
          const bytes = Buffer.from(q);
          expect(bytes.length, `${value} ${max}`).to.be.at.most(max);
          expect(bytes.toString('utf8')).to.equal(q);
          expect(q).to.not.include('\uFFFD');
          const read = asteriskReads(`X ${q}`)[1] ?? '';
          expect(value.startsWith(read), `${value} ${max} → ${read}`).to.equal(true);
        }
      }
    });
  });

  describe('formatCommand', () => {
    it('writes names bare and values quoted', () => {
      // GIVEN a SET VARIABLE WHEN formatted THEN the name is a bare token and the value is quoted
      expect(formatCommand('SET VARIABLE', [{ name: 'CALLERID(name)' }, 'Иван "Тест" Петров'])).to.equal(
        'SET VARIABLE CALLERID(name) "Иван \\"Тест\\" Петров"',
      );
      expect(formatCommand('GET VARIABLE', [{ name: 'CALLERID(num)' }])).to.equal('GET VARIABLE CALLERID(num)');
      expect(formatCommand('VERBOSE', ['hello world', 3])).to.equal('VERBOSE "hello world" 3');
      expect(formatCommand('GET FULL VARIABLE', [{ name: 'The time is ${EPOCH}' }])).to.equal(
        'GET FULL VARIABLE "The time is ${EPOCH}"',
      );
    });

    it('never exceeds 8191 bytes with the newline', () => {
      // GIVEN a 20 000-byte value WHEN formatted THEN the line plus \n is at most 8191 bytes and still parses
      const line = formatCommand('SET VARIABLE', [{ name: 'X' }, 'Я'.repeat(10_000)]);
      expect(Buffer.byteLength(line) + 1).to.be.at.most(MAX_COMMAND_LINE_BYTES);
      expect(Buffer.byteLength(line) + 1).to.be.at.least(MAX_COMMAND_LINE_BYTES - 1);
      const argv = asteriskReads(line);
      expect(argv).to.have.length(4);
      expect(argv[3]).to.match(/^Я+$/);
    });

    it('leaves room for later arguments', () => {
      // GIVEN two huge arguments WHEN formatted THEN both are present and the line fits
      const line = formatCommand('VERBOSE', ['a'.repeat(9000), 'b'.repeat(9000)]);
      expect(Buffer.byteLength(line) + 1).to.be.at.most(MAX_COMMAND_LINE_BYTES);
      expect(asteriskReads(line)).to.have.length(3);
    });

    it('rejects control characters in the command words', () => {
      // GIVEN a command with a newline WHEN formatted THEN AgiProtocolError (it would be two commands)
      expect(() => formatCommand('NOOP\nHANGUP')).to.throw(AgiProtocolError);
    });
  });
});
