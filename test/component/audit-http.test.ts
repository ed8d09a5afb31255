/** A change made over HTTP (RetailCRM setting a manager's status) is an audit-log row naming the caller. */
import { expect } from 'chai';
import { AuditLog } from '../../src/audit/audit-store.js';
import { CLIENT_ID, ENTERPRISE, startTestService, type TestService } from '../helpers/service.js';

describe('audit log of HTTP changes (component, real service)', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(async () => {
    await t.stop();
  });

  // GIVEN RetailCRM WHEN it sets manager 7 on break through changeUserStatusUrl THEN a row: source http, the caller, after
  it('records a manager status change with its caller', async () => {
    const res = await fetch(`http://127.0.0.1:${t.service.httpPort}/api/changeuserstatus`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ clientId: CLIENT_ID, userId: '7', status: 'break' }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).to.equal(200);
    await res.arrayBuffer();
    const log = new AuditLog(t.db.pool);
    const rows = await log.list({ enterprise: ENTERPRISE });
    expect(rows).to.have.length(1);
    expect(rows[0]).to.deep.include({ source: 'http', action: 'manager.status', enterprise: ENTERPRISE, after: { userId: 7, status: 'break' } });
    expect(rows[0]?.actor).to.match(/^RetailCRM user 7 via changeUserStatusUrl from (::ffff:)?127\.0\.0\.1$/);
    expect(await log.verify()).to.deep.include({ ok: true, count: 1 });
  });
});
