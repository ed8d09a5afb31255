/**
 * `enterprise rotate` against the real service: a rotated webhook or dashboard token stops the old URL at once
 * and the new one works, without touching SECRET_KEY (recording links unaffected); a rotated clientId is
 * registered again in RetailCRM, the old one refused by click-to-call. Each rotation is in the audit log.
 */
import { expect } from 'chai';
import { runCliCapture } from '../helpers/cli-capture.js';
import { moduleCode } from '../../src/integration/registration.js';
import { ENTERPRISE, startTestService, TEST_SECRET, type TestService } from '../helpers/service.js';

type Json = Record<string, unknown>;

describe('enterprise rotate (real service)', function () {
  this.timeout(60_000);
  let t: TestService;
  beforeEach(async () => {
    t = await startTestService();
  });
  afterEach(async () => {
    await t.stop();
  });

  const cli = (...argv: string[]) =>
    runCliCapture(argv, { DATABASE_URL: t.db.url, SECRET_KEY: TEST_SECRET, PUBLIC_URL: t.config.publicUrl, DATA_DIR: '/nonexistent-not-used', CRM_TIMEOUT_MS: '3000' });
  const urls = async (): Promise<{ webhookUrl: string; dashboardUrl: string }> =>
    (JSON.parse((await cli('enterprise', 'show', '--number', ENTERPRISE, '--json')).out) as { urls: { webhookUrl: string; dashboardUrl: string } }).urls;
  /** The service's answer for a public URL (PUBLIC_URL is https://pbx.example.com; the test talks to the port). */
  const status = async (publicUrl: string, init?: RequestInit): Promise<number> => {
    const local = publicUrl.replace(t.config.publicUrl, `http://127.0.0.1:${t.service.httpPort}`);
    const res = await fetch(local, { ...init, signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    return res.status;
  };
  const postHook = (url: string) => status(url, { method: 'POST', body: new URLSearchParams({ event: 'customer.edit', id: '1' }) });

  // GIVEN the webhook and dashboard URLs WHEN each token is rotated THEN the old URL is refused, the new one served
  it('rotates the webhook and dashboard tokens', async () => {
    const before = await urls();
    expect(await postHook(before.webhookUrl)).not.to.equal(403);
    expect(await status(before.dashboardUrl)).to.equal(200);

    const w = await cli('enterprise', 'rotate', '--number', ENTERPRISE, '--what', 'webhook');
    expect(w.code, w.err).to.equal(0);
    const d = await cli('enterprise', 'rotate', '--number', ENTERPRISE, '--what', 'dashboard');
    expect(d.code, d.err).to.equal(0);
    const after = await urls();
    expect(after.webhookUrl).not.to.equal(before.webhookUrl);
    expect(w.out).to.contain(after.webhookUrl);

    expect(await postHook(before.webhookUrl)).to.equal(403);
    expect(await postHook(after.webhookUrl)).not.to.equal(403);
    expect(await status(before.dashboardUrl)).to.equal(403);
    expect(await status(after.dashboardUrl)).to.equal(200);

    const audit = JSON.parse((await cli('audit', 'list', '--enterprise', ENTERPRISE, '--json')).out) as { action: string }[];
    expect(audit.map((r) => r.action)).to.include.members(['enterprise.rotate.webhook', 'enterprise.rotate.dashboard']);
    expect((await cli('enterprise', 'rotate', '--number', ENTERPRISE, '--what', 'api-key')).code).to.equal(2);
  });

  // GIVEN the module registered in RetailCRM WHEN the clientId is rotated THEN RetailCRM gets the new one and the old is refused
  it('rotates the clientId and registers it again', async () => {
    t.crm.addUser({ id: 7, firstName: 'Anna' });
    expect((await cli('register', '--enterprise', ENTERPRISE)).code).to.equal(0);
    const oldClientId = (JSON.parse((await cli('enterprise', 'show', '--number', ENTERPRISE, '--json')).out) as Json)['clientId'] as string;

    const r = await cli('enterprise', 'rotate', '--number', ENTERPRISE, '--what', 'client-id');
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('registered again');
    const newClientId = (JSON.parse((await cli('enterprise', 'show', '--number', ENTERPRISE, '--json')).out) as Json)['clientId'] as string;
    expect(newClientId).not.to.equal(oldClientId);
    expect(t.crm.account().modules.get(moduleCode(ENTERPRISE))?.['clientId']).to.equal(newClientId);

    const makeCall = (clientId: string) =>
      status(`${t.config.publicUrl}/api/makecallexternal`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ clientId, code: '101', phone: '+375297654321' }),
      });
    expect(await makeCall(oldClientId)).to.equal(403);
    expect(await makeCall(newClientId)).not.to.equal(403);
  });
});
