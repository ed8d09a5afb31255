/** Unit: defensive parsing of RetailCRM answers: ids as strings or numbers, null names, garbage everywhere. */
import { expect } from 'chai';
import { CrmBadResponseError } from '../../src/lib/errors.js';
import {
  parseCallEventResult,
  parseCreatedId,
  parseCredentials,
  parseCustomer,
  parseCustomerGet,
  parseCustomersList,
  parseHistoryPage,
  parseIntegrationModule,
  parseIntegrationModuleEditInfo,
  parseManagerLookup,
  parseOrdersList,
  parseUploadResult,
  parseUsersList,
} from '../../src/crm/parse.js';

const GARBAGE: unknown[] = [null, undefined, 42, 'text', true, [], [1, 2], { nested: { deep: 1 } }, -1, 1.5, Number.NaN, ''];

describe('crm parse', () => {
  describe('envelope', () => {
    for (const body of [null, undefined, 'html', 42, [], {}, { success: false }, { success: 'true' }, { success: 1 }]) {
      it(`rejects ${JSON.stringify(body) ?? 'undefined'} as an envelope`, () => {
        // GIVEN a body that is not {success:true} WHEN parsed THEN CrmBadResponseError
        expect(() => parseManagerLookup(body)).to.throw(CrmBadResponseError);
      });
    }
  });

  describe('telephony/manager', () => {
    it('parses the contract example', () => {
      // GIVEN the documented answer WHEN parsed THEN manager, customer and links come out typed
      const lookup = parseManagerLookup({
        success: true,
        manager: { id: 1, firstName: 'Анна', lastName: 'Петрова', patronymic: 'И', email: 'a@x', code: '12' },
        customer: { id: 7, externalId: '1', firstName: 'Иван', lastName: 'Иванов', email: 'i@x', phones: [{ number: '88005553125' }] },
        links: { newOrderLink: 'https://a/orders/add', customerLink: 'https://a/c/7' },
      });
      expect(lookup.manager).to.deep.equal({ id: 1, firstName: 'Анна', lastName: 'Петрова', patronymic: 'И', email: 'a@x', code: '12' });
      expect(lookup.customer?.id).to.equal(7);
      expect(lookup.customer?.type).to.equal('customer');
      expect(lookup.customer?.phones).to.deep.equal(['88005553125']);
      expect(lookup.customer?.displayName).to.equal('Иван Иванов');
      expect(lookup.links?.customerLink).to.equal('https://a/c/7');
      expect(lookup.links?.lastOrderLink).to.equal(undefined);
    });

    it('accepts string ids and a numeric extension', () => {
      // GIVEN ids as strings (PHP6 types them so) and code as a number WHEN parsed THEN numbers / string
      const lookup = parseManagerLookup({ success: true, manager: { id: '16', code: 101 }, customer: { id: '0042' } });
      expect(lookup.manager?.id).to.equal(16);
      expect(lookup.manager?.code).to.equal('101');
      expect(lookup.customer?.id).to.equal(42);
    });

    for (const empty of [undefined, null, {}, []]) {
      it(`treats manager/customer ${JSON.stringify(empty) ?? 'undefined'} as not found`, () => {
        // GIVEN success with nothing matched WHEN parsed THEN both undefined
        const lookup = parseManagerLookup({ success: true, manager: empty, customer: empty, links: empty });
        expect(lookup.manager).to.equal(undefined);
        expect(lookup.customer).to.equal(undefined);
      });
    }

    for (const id of [null, 'abc', -3, 0, 1.5, '', {}, [], true, '12abc', 1e300]) {
      it(`refuses manager.id ${JSON.stringify(id)}`, () => {
        // GIVEN a present manager with an unusable id WHEN parsed THEN CrmBadResponseError
        expect(() => parseManagerLookup({ success: true, manager: { id, code: '1' } })).to.throw(CrmBadResponseError);
      });
    }

    it('refuses a manager that is a string', () => {
      // GIVEN manager "x" WHEN parsed THEN CrmBadResponseError
      expect(() => parseManagerLookup({ success: true, manager: 'x' })).to.throw(CrmBadResponseError);
    });

    it('survives garbage in every optional field', () => {
      // GIVEN each garbage value in every optional field WHEN parsed THEN no throw and only strings/undefined come out
      for (const g of GARBAGE) {
        const lookup = parseManagerLookup({
          success: true,
          manager: { id: 1, firstName: g, lastName: g, patronymic: g, email: g, code: g },
          customer: { id: 2, externalId: g, type: g, firstName: g, lastName: g, patronymic: g, email: g, phones: g,
            managerId: g, site: g, createdAt: g, nickName: g, mainCompany: g, isContact: g },
          links: g,
        });
        for (const v of [lookup.manager?.firstName, lookup.manager?.code, lookup.customer?.firstName, lookup.customer?.displayName]) {
          expect(v === undefined || typeof v === 'string', `for ${String(g)}`).to.equal(true);
        }
        expect(lookup.customer?.phones).to.be.an('array');
        const managerId = lookup.customer?.managerId;
        expect(managerId === undefined || (Number.isInteger(managerId) && managerId > 0)).to.equal(true);
      }
    });

    it('drops garbage phone entries and keeps the good ones', () => {
      // GIVEN mixed phone entries WHEN parsed THEN only usable numbers
      const c = parseCustomer({ id: 1, phones: [{ number: '+7 900' }, null, { number: null }, {}, 'bare', { number: 79001112233 }, [1]] });
      expect(c.phones).to.deep.equal(['+7 900', 'bare', '79001112233']);
    });
  });

  describe('customers and display names', () => {
    it('null or missing names give no display name', () => {
      // GIVEN names null WHEN parsed THEN displayName undefined (the caller falls back to the number)
      expect(parseCustomer({ id: 1, firstName: null, lastName: null }).displayName).to.equal(undefined);
      expect(parseCustomer({ id: 1 }).displayName).to.equal(undefined);
      expect(parseCustomer({ id: 1, firstName: '   ' }).displayName).to.equal(undefined);
    });

    it('one name is enough', () => {
      // GIVEN only lastName WHEN parsed THEN it is the display name
      expect(parseCustomer({ id: 1, lastName: 'Smith' }).displayName).to.equal('Smith');
    });

    it('removes control characters and collapses whitespace in the display name', () => {
      // GIVEN a name with newline/tab/NUL WHEN parsed THEN one clean line
      expect(parseCustomer({ id: 1, firstName: 'Ann\n\t', lastName: ' O\u0000Brien\r\n' }).displayName).to.equal('Ann O Brien');
    });

    it('corporate by type: display name is the company (nickName)', () => {
      // GIVEN a customer_corporate WHEN parsed THEN displayName is nickName
      const c = parseCustomer({ id: 5, type: 'customer_corporate', nickName: 'ООО "Ромашка"', firstName: 'x' });
      expect(c.type).to.equal('customer_corporate');
      expect(c.companyName).to.equal('ООО "Ромашка"');
      expect(c.displayName).to.equal('ООО "Ромашка"');
    });

    it('corporate by type without nickName uses mainCompany.name, then company.name', () => {
      // GIVEN only a mainCompany / company WHEN parsed THEN its name
      expect(parseCustomer({ id: 5, type: 'customer_corporate', mainCompany: { name: 'Main LLC' } }).displayName).to.equal('Main LLC');
      expect(parseCustomer({ id: 5, type: 'customer_corporate', company: { name: 'Co LLC' } }).displayName).to.equal('Co LLC');
    });

    it('corporate without any company name falls back to the person name', () => {
      // GIVEN customer_corporate with names only WHEN parsed THEN the person name
      expect(parseCustomer({ id: 5, type: 'customer_corporate', firstName: 'A', lastName: 'B' }).displayName).to.equal('A B');
    });

    it('no type but a nickName is treated as corporate; type "customer" is not', () => {
      // GIVEN a nickName without type WHEN parsed THEN corporate; with type customer THEN individual
      expect(parseCustomer({ id: 5, nickName: 'ACME' }).type).to.equal('customer_corporate');
      const individual = parseCustomer({ id: 5, type: 'customer', nickName: 'ACME', firstName: 'Bob' });
      expect(individual.type).to.equal('customer');
      expect(individual.displayName).to.equal('Bob');
    });

    it('managerId from managerId or manager.id', () => {
      // GIVEN either form WHEN parsed THEN the number
      expect(parseCustomer({ id: 1, managerId: '9' }).managerId).to.equal(9);
      expect(parseCustomer({ id: 1, manager: { id: 8 } }).managerId).to.equal(8);
    });

    it('customers list: items, pagination, defaults when pagination is garbage', () => {
      // GIVEN a list with bad pagination WHEN parsed THEN derived pagination
      const page = parseCustomersList({ success: true, customers: [{ id: 1 }, { id: '2' }], pagination: 'x' });
      expect(page.items.map((c) => c.id)).to.deep.equal([1, 2]);
      expect(page.pagination).to.deep.equal({ limit: 2, totalCount: 2, currentPage: 1, totalPageCount: 1 });
    });

    it('customers list refuses a non-array list and an item without id', () => {
      // GIVEN customers not an array / item without id WHEN parsed THEN CrmBadResponseError
      expect(() => parseCustomersList({ success: true, customers: {} })).to.throw(CrmBadResponseError);
      expect(() => parseCustomersList({ success: true, customers: [{ id: 1 }, { name: 'x' }] })).to.throw(CrmBadResponseError, /customers\[1\]\.id/);
    });

    it('customer get requires the customer object', () => {
      // GIVEN success without customer WHEN parsed THEN CrmBadResponseError
      expect(() => parseCustomerGet({ success: true })).to.throw(CrmBadResponseError);
      expect(parseCustomerGet({ success: true, customer: { id: 3 } }).id).to.equal(3);
    });

    it('created id: number or numeric string; anything else refused', () => {
      // GIVEN create answers WHEN parsed THEN the id, or CrmBadResponseError
      expect(parseCreatedId({ success: true, id: 77 })).to.equal(77);
      expect(parseCreatedId({ success: true, id: '78' })).to.equal(78);
      for (const g of GARBAGE.filter((v) => v !== 42)) expect(() => parseCreatedId({ success: true, id: g })).to.throw(CrmBadResponseError);
    });
  });

  describe('telephony writes', () => {
    it('call event result: arrays cleaned, missing arrays empty', () => {
      // GIVEN notExist arrays with garbage WHEN parsed THEN only usable values
      expect(parseCallEventResult({ success: true })).to.deep.equal({ notExistCodes: [], notExistUsers: [] });
      expect(parseCallEventResult({ success: true, notExistCodes: ['101', 102, null, {}], notExistUsers: [5, '6', 'x', -1] })).to.deep.equal({
        notExistCodes: ['101', '102'],
        notExistUsers: [5, 6],
      });
    });

    it('upload result: count defaults to 0; duplicates cleaned', () => {
      // GIVEN the fixture {success, processedCallsCount:1} and garbage WHEN parsed THEN sane values
      expect(parseUploadResult({ success: true, processedCallsCount: 1 })).to.deep.equal({ processedCallsCount: 1, duplicateCalls: [] });
      for (const g of GARBAGE) {
        const r = parseUploadResult({ success: true, processedCallsCount: g, duplicateCalls: g });
        expect(r.processedCallsCount).to.be.a('number');
        expect(r.duplicateCalls).to.be.an('array');
      }
      expect(parseUploadResult({ success: true, processedCallsCount: '3', duplicateCalls: ['a', null, 7] })).to.deep.equal({
        processedCallsCount: 3,
        duplicateCalls: ['a', '7'],
      });
    });
  });

  describe('users, orders, history', () => {
    it('users: garbage fields become undefined, id required', () => {
      // GIVEN a user with garbage fields WHEN parsed THEN undefined there
      const page = parseUsersList({ success: true, users: [{ id: '3', firstName: {}, status: ['busy'], online: 'yes', isManager: 1 }] });
      const u = page.items[0];
      expect(u?.id).to.equal(3);
      expect(u?.firstName).to.equal(undefined);
      expect(u?.status).to.equal(undefined);
      expect(u?.online).to.equal(undefined);
      expect(u?.isManager).to.equal(true);
      expect(() => parseUsersList({ success: true, users: [null] })).to.throw(CrmBadResponseError);
    });

    it('orders: customer id from customer.id', () => {
      // GIVEN an order with a nested customer WHEN parsed THEN customerId
      const page = parseOrdersList({ success: true, orders: [{ id: 1, number: 1001, customer: { id: '5' } }] });
      expect(page.items[0]?.customerId).to.equal(5);
      expect(page.items[0]?.number).to.equal('1001');
    });

    it('history: apiKey.current, merged customers, garbage tolerated', () => {
      // GIVEN history entries WHEN parsed THEN flags and refs
      const page = parseHistoryPage({
        success: true,
        generatedAt: '2024-01-01 00:00:00',
        history: [
          { id: 10, createdAt: '2024-01-01 00:00:00', created: true, source: 'api', apiKey: { current: true }, field: 'id',
            customer: { id: 5, externalId: 'e5' } },
          { id: '11', deleted: 'x', apiKey: 'garbage', user: { id: 'u' }, customer: { id: 'bad' }, combinedTo: { id: 6 } },
        ],
        pagination: { limit: 100, totalCount: 2, currentPage: 1, totalPageCount: 1 },
      });
      expect(page.generatedAt).to.equal('2024-01-01 00:00:00');
      expect(page.entries[0]?.byCurrentApiKey).to.equal(true);
      expect(page.entries[0]?.customer).to.deep.equal({ id: 5, externalId: 'e5', site: undefined });
      expect(page.entries[1]?.id).to.equal(11);
      expect(page.entries[1]?.deleted).to.equal(false);
      expect(page.entries[1]?.byCurrentApiKey).to.equal(false);
      expect(page.entries[1]?.userId).to.equal(undefined);
      expect(page.entries[1]?.customer).to.equal(undefined);
      expect(page.entries[1]?.combinedTo?.id).to.equal(6);
      expect(() => parseHistoryPage({ success: true, history: [{ field: 'x' }] })).to.throw(CrmBadResponseError);
      expect(() => parseHistoryPage({ success: true })).to.throw(CrmBadResponseError);
    });
  });

  describe('integration module and credentials', () => {
    it('module: keeps good codes, drops broken ones', () => {
      // GIVEN a module with mixed additionalCodes WHEN parsed THEN only complete pairs
      const m = parseIntegrationModule({
        success: true,
        integrationModule: {
          code: 'pbx-1',
          active: true,
          actions: { activity: '/a', bad: 5 },
          integrations: {
            telephony: {
              makeCallUrl: 'https://x/mc',
              additionalCodes: [{ userId: '16', code: 101 }, { userId: 'x', code: '1' }, null, { userId: 3 }],
              externalPhones: [{ siteCode: 's', externalPhone: '+1' }, { siteCode: 's' }],
            },
          },
        },
      });
      expect(m.code).to.equal('pbx-1');
      expect(m.actions).to.deep.equal({ activity: '/a' });
      expect(m.integrations?.telephony?.additionalCodes).to.deep.equal([{ userId: 16, code: '101' }]);
      expect(m.integrations?.telephony?.externalPhones).to.deep.equal([{ siteCode: 's', externalPhone: '+1' }]);
      expect(() => parseIntegrationModule({ success: true, integrationModule: { active: true } })).to.throw(CrmBadResponseError);
      expect(() => parseIntegrationModule({ success: true, integrationModule: [] })).to.throw(CrmBadResponseError);
    });

    it('edit info: missing info is empty', () => {
      // GIVEN {success:true} WHEN parsed THEN empty lists
      expect(parseIntegrationModuleEditInfo({ success: true })).to.deep.equal({ notExistUsersIds: [], notExistSiteCodes: [] });
      expect(parseIntegrationModuleEditInfo({ success: true, info: { notExistUsersIds: [1, 'x'] } }).notExistUsersIds).to.deep.equal([1]);
    });

    it('credentials: scopes must be a list', () => {
      // GIVEN credentials answers WHEN parsed THEN scopes, or CrmBadResponseError without them
      expect(parseCredentials({ success: true, scopes: ['telephony_write', 3, null], sitesAvailable: 'x' })).to.deep.equal({
        scopes: ['telephony_write', '3'],
        siteAccess: undefined,
        sitesAvailable: [],
      });
      expect(() => parseCredentials({ success: true })).to.throw(CrmBadResponseError);
    });
  });
});
