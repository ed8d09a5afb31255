/** Unit: the click-to-call Originate fields and every refusal that keeps CRM text out of dial strings. */
import { expect } from 'chai';
import { buildOriginate, callerIdName, checkRawPhone, validateChannelTemplate, validateContext } from '../../src/clicktocall/dial-string.js';
import { type OriginateSettings } from '../../src/domain/pbx-settings.js';
import { InputError } from '../../src/lib/errors.js';

const SETTINGS: OriginateSettings = {
  channelTemplate: 'PJSIP/{ext}',
  context: 'rcrm-click-to-call',
  outboundCallerId: '+375171234567',
  originateTimeoutS: 30,
};
const TARGET = { enterprise: '0367', ext: '101', customer: '+375297654321', customerName: 'Иван Петров', crmCallId: 'c2c-1' };

function refused(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('dial-string', () => {
  // GIVEN default-style settings WHEN a call is built THEN the manager is rung first and the customer leg follows
  it('builds the Originate fields', () => {
    const o = buildOriginate(SETTINGS, TARGET);
    expect(o).to.deep.equal({
      channel: 'PJSIP/101',
      context: 'rcrm-click-to-call',
      exten: '+375297654321',
      callerId: '"Иван Петров" <+375297654321>',
      variables: { CRM_CALL_ID: 'c2c-1', RCRM_ENTERPRISE: '0367', RCRM_C2C_EXT: '101', RCRM_OUTBOUND_CID: '+375171234567' },
      timeoutMs: 30_000,
    });
  });

  // GIVEN the IAX2 and Local templates of the captures WHEN built THEN {ext} is substituted everywhere
  it('substitutes the extension in every template form', () => {
    expect(buildOriginate({ ...SETTINGS, channelTemplate: 'IAX2/{ext}/{ext}' }, TARGET).channel).to.equal('IAX2/101/101');
    expect(buildOriginate({ ...SETTINGS, channelTemplate: 'Local/{ext}@from-internal' }, TARGET).channel).to.equal('Local/101@from-internal');
  });

  // GIVEN no customer name and no outbound number WHEN built THEN the number is shown and no outbound variable is set
  it('falls back to the number as caller id', () => {
    const o = buildOriginate({ ...SETTINGS, outboundCallerId: null }, { ...TARGET, customerName: '' });
    expect(o.callerId).to.equal('"+375297654321" <+375297654321>');
    expect(o.variables).to.not.have.property('RCRM_OUTBOUND_CID');
  });

  // GIVEN a customer name with quotes, brackets and CR/LF WHEN used as caller id THEN they are blanked
  it('cleans the caller id name', () => {
    expect(callerIdName('Ivan "The" <Boss>\r\nAction: Command')).to.equal('Ivan The Boss Action: Command');
    expect(callerIdName('a\\b;c|d')).to.equal('a b c d');
  });

  // GIVEN injection attempts in the raw phone WHEN checked THEN each is refused with a clear message
  for (const [phone, what] of [
    ['123&PJSIP/999', '"&"'],
    ['+7916/x', '"/"'],
    ['1,2', '","'],
    ['a@b', 'letter'],
    ['\r\nAction: Command', 'control character'],
    ['12345\u0000', 'control character'],
    ['+375 29 1234567;', '";"'],
    ['', 'required'],
    ['12+34', '+ only at the start'],
  ] as const) {
    it(`refuses the phone ${JSON.stringify(phone)}`, () => {
      const err = refused(() => checkRawPhone(phone));
      expect(err.message).to.contain(what);
      expect(err.field).to.equal('phone');
    });
  }

  // GIVEN the ways people write numbers WHEN checked THEN they pass unchanged (normalisation comes later)
  it('accepts written phone numbers', () => {
    for (const p of ['+375 (29) 765-43-21', '80297654321', '8.029.765.43.21']) expect(checkRawPhone(p)).to.equal(p);
  });

  // GIVEN a non-normalised customer or a bad extension WHEN built THEN refused
  it('refuses bad customers and extensions', () => {
    refused(() => buildOriginate(SETTINGS, { ...TARGET, customer: '123&PJSIP/999' }));
    refused(() => buildOriginate(SETTINGS, { ...TARGET, customer: '+375 29' }));
    refused(() => buildOriginate(SETTINGS, { ...TARGET, ext: '101&PJSIP/999' }));
    refused(() => buildOriginate(SETTINGS, { ...TARGET, ext: '101/x' }));
    refused(() => buildOriginate(SETTINGS, { ...TARGET, ext: '101,1' }));
    refused(() => buildOriginate(SETTINGS, { ...TARGET, crmCallId: 'c2c-1\r\nAction: Hangup' }));
  });

  // GIVEN injection attempts in the stored settings WHEN validated THEN refused
  it('refuses bad templates, contexts and caller ids', () => {
    for (const t of ['PJSIP/101', 'PJSIP/{ext}&PJSIP/999', 'PJSIP/{ext},30', 'Foo/{ext}', '{ext}', 'PJSIP/{ext}{x}', 'PJSIP/{ext}\r\n'])
      refused(() => validateChannelTemplate(t));
    for (const c of ['from internal', 'a,b', 'ctx\r\nAction: Command', ''])
      refused(() => validateContext(c));
    refused(() => buildOriginate({ ...SETTINGS, outboundCallerId: '+375&1' }, TARGET));
    refused(() => buildOriginate({ ...SETTINGS, originateTimeoutS: 1 }, TARGET));
  });
});
