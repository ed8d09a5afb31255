/** Unit: RetailCRM request encoding (contract §1.3): JSON-in-field POST bodies, bracket-notation GET queries. */
import { expect } from 'chai';
import { encodeForm, encodeQuery } from '../../src/crm/form-encoding.js';

describe('crm form encoding', () => {
  describe('encodeForm', () => {
    it('puts an entity object into one field as a JSON string', () => {
      // GIVEN a call event WHEN encoded THEN it is one `event` field holding JSON, not nested form fields
      const body = encodeForm({ event: { type: 'in', phone: '+7 (900) 123', codes: ['101'] } });
      const params = new URLSearchParams(body);
      expect([...params.keys()]).to.deep.equal(['event']);
      expect(JSON.parse(params.get('event') ?? '')).to.deep.equal({ type: 'in', phone: '+7 (900) 123', codes: ['101'] });
      expect(body).to.not.include('event[');
    });

    it('encodes arrays as JSON too (calls/upload)', () => {
      // GIVEN two calls WHEN encoded THEN `calls` is a JSON array
      const params = new URLSearchParams(encodeForm({ calls: [{ externalId: 'a' }, { externalId: 'b' }] }));
      expect(JSON.parse(params.get('calls') ?? '')).to.deep.equal([{ externalId: 'a' }, { externalId: 'b' }]);
    });

    it('sends plain fields as text and skips undefined/null', () => {
      // GIVEN a customer with a site and an absent field WHEN encoded THEN site is plain and the absent one is gone
      const body = encodeForm({ customer: { firstName: 'Ann' }, site: 'shop 1', by: undefined, other: null });
      const params = new URLSearchParams(body);
      expect(params.get('site')).to.equal('shop 1');
      expect(params.has('by')).to.equal(false);
      expect(params.has('other')).to.equal(false);
    });

    it('percent-encodes JSON, unicode, & and = so the body round-trips', () => {
      // GIVEN awkward text WHEN encoded and decoded THEN it is unchanged
      const name = 'Иван & "Co" = 100%, +7';
      const params = new URLSearchParams(encodeForm({ customer: { firstName: name }, status: 'a&b=c' }));
      expect((JSON.parse(params.get('customer') ?? '') as { firstName: string }).firstName).to.equal(name);
      expect(params.get('status')).to.equal('a&b=c');
    });

    it('writes booleans as 1/0 and numbers as text', () => {
      // GIVEN scalar fields WHEN encoded THEN booleans become 1/0
      expect(encodeForm({ a: true, b: false, c: 5 })).to.equal('a=1&b=0&c=5');
    });

    it('keeps booleans inside JSON fields as JSON booleans', () => {
      // GIVEN a module with active:true WHEN encoded THEN the JSON says true
      const params = new URLSearchParams(encodeForm({ integrationModule: { code: 'x', active: true } }));
      expect(params.get('integrationModule')).to.equal('{"code":"x","active":true}');
    });

    it('refuses non-finite numbers', () => {
      // GIVEN NaN WHEN encoded THEN it throws instead of sending "NaN"
      expect(() => encodeForm({ a: Number.NaN })).to.throw(TypeError);
    });
  });

  describe('encodeQuery', () => {
    it('uses bracket notation for nested filters', () => {
      // GIVEN a filter WHEN encoded THEN filter[sinceId]=5
      expect(encodeQuery({ filter: { sinceId: 5 }, limit: 100, page: 1 })).to.equal('filter[sinceId]=5&limit=100&page=1');
    });

    it('repeats array items with []', () => {
      // GIVEN ids WHEN encoded THEN filter[ids][]=1&filter[ids][]=2
      expect(encodeQuery({ filter: { ids: [1, 2] } })).to.equal('filter[ids][]=1&filter[ids][]=2');
    });

    it('writes booleans as 1/0', () => {
      // GIVEN details/ignoreStatus WHEN encoded THEN 1/0, never "true"
      expect(encodeQuery({ phone: '123', details: true, ignoreStatus: false })).to.equal('phone=123&details=1&ignoreStatus=0');
    });

    it('percent-encodes values and keys but keeps brackets', () => {
      // GIVEN a phone with + and spaces WHEN encoded THEN + is %2B and the parsed value round-trips
      const q = encodeQuery({ phone: '+7 900 12-34', filter: { name: 'a&b' } });
      expect(q).to.equal('phone=%2B7%20900%2012-34&filter[name]=a%26b');
      const params = new URLSearchParams(q);
      expect(params.get('phone')).to.equal('+7 900 12-34');
      expect(params.get('filter[name]')).to.equal('a&b');
    });

    it('skips undefined and null at any depth and gives "" for nothing', () => {
      // GIVEN only absent values WHEN encoded THEN the query is empty
      expect(encodeQuery({ a: undefined, b: null, filter: { x: undefined } })).to.equal('');
      expect(encodeQuery({ filter: { ids: [1, null, 2] } })).to.equal('filter[ids][]=1&filter[ids][]=2');
    });

    it('encodes deep nesting (filter[customFields][nps][min])', () => {
      // GIVEN the contract's example WHEN encoded THEN the same bracket path
      expect(encodeQuery({ filter: { numbers: ['1235C'], customFields: { nps: { min: 5 } } } })).to.equal(
        'filter[numbers][]=1235C&filter[customFields][nps][min]=5',
      );
    });

    it('refuses objects inside arrays (no PHP encoding for them is relied on)', () => {
      // GIVEN an object in an array WHEN encoded THEN it throws
      expect(() => encodeQuery({ filter: { ids: [{ a: 1 }] } })).to.throw(TypeError);
    });
  });
});
