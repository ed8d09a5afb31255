import { expect } from 'chai';
import { parseLengthPrefixed, readChannelVariables } from '../../src/calls/channel-facts.js';
import type { AgiChannel } from '../../src/calls/agi-channel.js';

function channel(values: Record<string, string>, full: (expr: string) => string | undefined): AgiChannel & { gets: string[] } {
  const gets: string[] = [];
  return {
    env: { channel: 'IAX2/trunk-1', uniqueid: '1.1', callerid: '', calleridname: '', context: '', extension: '' },
    script: 'hangup',
    query: new URLSearchParams(),
    hungUp: false,
    gets,
    async getVariable(name) {
      gets.push(name);
      return values[name];
    },
    async getFullVariable(expr) {
      return full(expr);
    },
    async setVariable() {},
  };
}

describe('reading channel variables in one round trip', () => {
  // GIVEN values containing the separators, UTF-8 and nothing WHEN parsed by byte length THEN each is exact
  it('splits length-prefixed values whatever they contain', () => {
    const values = ['a|b:c', '', 'Иван 😀', '12:34'];
    const answer = values.map((v) => `${Buffer.byteLength(v)}:${v}`).join('');
    expect(parseLengthPrefixed(answer, 4)).to.deep.equal(values);
  });

  // GIVEN an answer that does not add up (cut, garbage, too many values) WHEN parsed THEN undefined, never a guess
  it('refuses an answer that does not add up', () => {
    expect(parseLengthPrefixed('5:abc', 1)).to.equal(undefined);
    expect(parseLengthPrefixed('3:abc1:x', 1)).to.equal(undefined);
    expect(parseLengthPrefixed('x:abc', 1)).to.equal(undefined);
    expect(parseLengthPrefixed('', 1)).to.equal(undefined);
  });

  // GIVEN an Asterisk that answers GET FULL VARIABLE WHEN many variables are read THEN one command, no GET VARIABLE
  it('reads every variable with one GET FULL VARIABLE', async () => {
    const vars: Record<string, string> = { A: 'x|y', B: '', 'CDR(dst)': '+375' };
    const ch = channel(vars, (expr) =>
      expr.replace(/\$\{LEN\(\$\{([^}]+)\}\)\}:\$\{[^}]+\}/g, (_m, n: string) => `${Buffer.byteLength(vars[n] ?? '')}:${vars[n] ?? ''}`),
    );
    expect(await readChannelVariables(ch, ['A', 'B', 'CDR(dst)'])).to.deep.equal({ A: 'x|y', B: '', 'CDR(dst)': '+375' });
    expect(ch.gets).to.deep.equal([]);
  });

  // GIVEN an answer that does not parse WHEN read THEN each variable is read on its own
  it('falls back to one GET VARIABLE each', async () => {
    const ch = channel({ A: '1', B: '2' }, () => 'garbage');
    expect(await readChannelVariables(ch, ['A', 'B'])).to.deep.equal({ A: '1', B: '2' });
    expect(ch.gets).to.deep.equal(['A', 'B']);
  });
});
