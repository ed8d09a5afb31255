/** Unit: the pure parts of leads and call-back tasks (src/work/): task text, lead periods and externalIds, refusals. */
import { expect } from 'chai';
import { CrmAuthError, CrmHttpError, CrmTimeoutError } from '../../src/lib/errors.js';
import { parseTask } from '../../src/crm/parse.js';
import { leadExternalId, leadPeriodStart } from '../../src/work/lead-store.js';
import { resultForWorkError, taskReference, taskText } from '../../src/work/work-handlers.js';

describe('work: call-back task text, lead periods, scope refusals', () => {
  // GIVEN a caller with and without a name, one and several misses THEN the text the manager reads
  it('writes the task text', () => {
    const ref = taskReference('0367', 12);
    expect(ref).to.equal('[agi-cb 0367-12]');
    expect(taskText('+375291110001', 'Ivan Ivanov', '14:02', 1, ref)).to.equal('Call back +375291110001 (Ivan Ivanov), missed at 14:02 [agi-cb 0367-12]');
    expect(taskText('+375291110001', '', '14:02', 3, ref)).to.equal('Call back +375291110001, missed at 14:02, 3 missed calls [agi-cb 0367-12]');
  });

  // GIVEN calls at the edges of a window THEN they share a period (and an externalId) only inside one window
  it('puts calls into fixed periods', () => {
    const a = new Date('2026-03-01T00:00:00Z');
    const b = new Date('2026-03-01T23:59:59Z');
    const c = new Date('2026-03-02T00:00:00Z');
    expect(leadPeriodStart(a, 24).getTime()).to.equal(leadPeriodStart(b, 24).getTime());
    expect(leadPeriodStart(c, 24).getTime()).to.not.equal(leadPeriodStart(b, 24).getTime());
    expect(leadPeriodStart(new Date('2026-03-01T13:00:00Z'), 12).toISOString()).to.equal('2026-03-01T12:00:00.000Z');
    expect(leadExternalId('0367', '+375291110001', a)).to.equal(`agi-lead-0367-375291110001-${a.getTime() / 1000}`);
  });

  // GIVEN RetailCRM's answers THEN a refused scope fails with the scope named; a validation error fails; a timeout retries
  it('turns errors into job results', () => {
    const denied = resultForWorkError(new CrmAuthError(403, 'Access denied.'), 'task_write');
    expect(denied).to.deep.equal({ kind: 'failed', reason: 'RetailCRM refused: the API key lacks the scope task_write (Access denied.)' });
    expect(resultForWorkError(new CrmAuthError(403, 'Wrong "apiKey" value.'), 'task_write').kind).to.equal('failed');
    expect(resultForWorkError(new CrmHttpError(400, 'Errors in the entity format', { text: 'blank' }, false), 'task_write').kind).to.equal('failed');
    expect(resultForWorkError(new CrmTimeoutError(1000), 'task_write').kind).to.equal('retry');
  });

  // GIVEN a task as GET tasks lists it THEN its id, text, state, performer and customer
  it('parses a task', () => {
    expect(parseTask({ id: '5', text: 'x', complete: true, performerId: 7, customer: { id: 9, type: 'customer' }, datetime: '2026-01-01 10:00' }))
      .to.deep.equal({ id: 5, text: 'x', complete: true, performerId: 7, customerId: 9, datetime: '2026-01-01 10:00' });
    expect(parseTask({ id: 6, performer: 8 })).to.deep.include({ complete: false, performerId: 8, customerId: undefined });
    expect(() => parseTask({ text: 'no id' })).to.throw(/id/);
  });
});
