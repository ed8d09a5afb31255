import { expect } from 'chai';
import { chooseIncomingRoute, incomingVariables } from '../../src/calls/route-decision.js';

const caller = (managerUserId: number | null, name = 'Иван Петров') => ({
  customerId: 42,
  name,
  isCorporate: false,
  managerUserId,
});
const exts = new Map<number, string>([
  [7, '101'],
  [8, '1,2&PJSIP/evil'],
]);

describe('incoming route decision', () => {
  // GIVEN a found customer whose manager has an extension WHEN routing THEN the extension is RCRM_MANAGER
  it('routes to the mapped extension', () => {
    const r = chooseIncomingRoute({ status: 'FOUND', source: 'crm', caller: caller(7) }, exts);
    expect(incomingVariables(r)).to.deep.equal([
      ['CALLERID(name)', 'Иван Петров'],
      ['RCRM_MANAGER', '101'],
      ['RCRM_CUSTOMER_ID', '42'],
      ['RCRM_LOOKUP', 'FOUND'],
    ]);
  });

  // GIVEN a manager with no extension, or no manager WHEN routing THEN RCRM_MANAGER is empty
  it('leaves the manager empty when unmapped or absent', () => {
    expect(chooseIncomingRoute({ status: 'FOUND', source: 'crm', caller: caller(99) }, exts)).to.include({
      manager: '',
      managerMissing: 'unmapped',
    });
    expect(chooseIncomingRoute({ status: 'FOUND', source: 'crm', caller: caller(null) }, exts)).to.include({
      manager: '',
      managerMissing: 'none',
    });
  });

  // GIVEN an extension that could inject into Dial() WHEN routing THEN it is never used
  it('refuses a malformed extension', () => {
    expect(chooseIncomingRoute({ status: 'FOUND', source: 'crm', caller: caller(8) }, exts)).to.include({
      manager: '',
      managerMissing: 'invalid',
    });
  });

  // GIVEN no customer WHEN routing THEN the name is left alone and the lookup status is reported
  it('reports not found, timeout and error with empty routing', () => {
    for (const status of ['NOT_FOUND', 'TIMEOUT', 'ERROR'] as const) {
      const vars = incomingVariables(chooseIncomingRoute({ status, source: 'none', caller: null }, exts));
      expect(vars).to.deep.equal([
        ['RCRM_MANAGER', ''],
        ['RCRM_CUSTOMER_ID', ''],
        ['RCRM_LOOKUP', status],
      ]);
    }
  });

  // GIVEN a customer with an empty name WHEN routing THEN CALLERID(name) is not touched
  it('does not blank the caller name', () => {
    const vars = incomingVariables(chooseIncomingRoute({ status: 'FOUND', source: 'crm', caller: caller(7, '') }, exts));
    expect(vars.map(([k]) => k)).to.not.include('CALLERID(name)');
  });
});
