import { expect } from 'chai';
import { channelFacts, channelFactsFromUrl, parseLengthPrefixed, readChannelVariables } from '../../src/calls/channel-facts.js';
import type { AgiChannel } from '../../src/calls/agi-channel.js';

function channel(values: Record<string, string>, full: (expr: string) => string | undefined, query = ''): AgiChannel & { gets: string[]; fulls: string[] } {
  const gets: string[] = [];
  const fulls: string[] = [];
  return {
    env: { channel: 'IAX2/trunk-1', uniqueid: '1.1', callerid: '', calleridname: '', context: '', extension: '' },
    script: 'hangup',
    query: new URLSearchParams(query),
    hungUp: false,
    gets,
    fulls,
    async getVariable(name) {
      gets.push(name);
      return values[name];
    },
    async getFullVariable(expr) {
      fulls.push(expr);
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

describe('channel facts from the AGI URL (the shipped dialplan passes them)', () => {
  const lengthPrefixed = (vars: Record<string, string>) => (expr: string): string =>
    expr.replace(/\$\{LEN\(\$\{([^}]+)\}\)\}:\$\{[^}]+\}/g, (_m, n: string) => `${Buffer.byteLength(vars[n] ?? '')}:${vars[n] ?? ''}`);

  // GIVEN the URL Asterisk built with URIENCODE (commas and slashes encoded) WHEN the facts are read THEN they come
  // from the URL, decoded, and Asterisk is not asked (no round trip)
  it('reads linkedid and the URI-encoded ring codes without a round trip', async () => {
    const ch = channel({}, () => undefined, 'enterprise=0367&linkedid=1795690000.12&ring=PJSIP%2F101%2CPJSIP%2F102');
    const facts = await channelFacts(ch, { RCRM_RING_CODES: 'ring' });
    expect(facts).to.deep.equal({ linkedid: '1795690000.12', enterpriseVar: '', extra: { RCRM_RING_CODES: 'PJSIP/101,PJSIP/102' } });
    expect(ch.fulls).to.deep.equal([]);
    expect(ch.gets).to.deep.equal([]);
  });

  // GIVEN an empty ring parameter (no default-route members) WHEN read THEN '' (it is present), still no round trip
  it('takes an empty parameter as an empty value', () => {
    const ch = channel({}, () => undefined, 'linkedid=pbx-1.7&ring=');
    expect(channelFactsFromUrl(ch, { RCRM_RING_CODES: 'ring' })?.extra).to.deep.equal({ RCRM_RING_CODES: '' });
  });

  // GIVEN an older dialplan (no linkedid, or linkedid without ring) WHEN read THEN one GET FULL VARIABLE, as before
  for (const query of ['enterprise=0367', 'enterprise=0367&linkedid=1.5', 'enterprise=0367&linkedid=&ring=x']) {
    it(`asks Asterisk when the URL lacks a fact (${query})`, async () => {
      const vars = { 'CHANNEL(linkedid)': '1.9', RCRM_ENTERPRISE: '', RCRM_RING_CODES: 'PJSIP/103' };
      const ch = channel(vars, lengthPrefixed(vars), query);
      expect(channelFactsFromUrl(ch, { RCRM_RING_CODES: 'ring' })).to.equal(null);
      const facts = await channelFacts(ch, { RCRM_RING_CODES: 'ring' });
      expect(facts).to.deep.equal({ linkedid: '1.9', enterpriseVar: '', extra: { RCRM_RING_CODES: 'PJSIP/103' } });
      expect(ch.fulls).to.have.length(1);
    });
  }
});
