/**
 * Component: what the fastify server gives every feature plugin, on port 0: one error shape (schema 400s, 404,
 * 413, 429), request ids in answers and logs, the admin allow-list hook, the makeCallUrl rate limit per clientId,
 * and draining (in-flight requests finish, new ones get 503 with the reason, /health included).
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import type { FastifyPluginAsync } from 'fastify';
import { clickToCallPlugin } from '../../src/clicktocall/click-to-call-routes.js';
import type { Enterprise } from '../../src/domain/enterprise.js';
import { healthPlugin, type HealthDeps } from '../../src/health/health-routes.js';
import { HttpServer } from '../../src/http/http-server.js';
import { PATHS } from '../../src/http/public-paths.js';
import { createLogger } from '../../src/lib/logger.js';
import { httpGet } from '../helpers/http-get.js';

const silent = createLogger({ level: 'error', silent: true });

/** A logger whose JSON lines are kept, to see the request id in them. */
function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', stream }), lines };
}

/** Holds /probe/slow until released, and says when a request is inside it (state, not sleeps). */
interface Hold {
  readonly entered: Promise<void>;
  release(): void;
}
let holding: { enter(): void; released: Promise<void> } | undefined;

function hold(): Hold {
  let enter!: () => void;
  let release!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const released = new Promise<void>((r) => (release = r));
  holding = { enter, released };
  return { entered, release };
}

/** A test feature: a schema'd route, a slow route (held by a gate), an admin route, and a logging route. */
const probePlugin: FastifyPluginAsync = async (app) => {
  app.get('/probe/typed', { schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } } }, async (req) => {
    req.logger.info('probe typed', { n: (req.query as { n: number }).n });
    return { success: true };
  });
  app.post('/probe/echo', async (req) => ({ success: true, size: JSON.stringify(req.body).length }));
  app.get('/probe/slow', async () => {
    if (holding) {
      holding.enter();
      await holding.released;
    }
    return { success: true, slow: true };
  });
  app.get('/probe/admin', { onRequest: app.adminOnly }, async () => ({ success: true }));
};

describe('HTTP server (fastify, component)', () => {
  describe('error shape, request ids, admin hook', () => {
    let http: HttpServer;
    let port: number;
    let capture: ReturnType<typeof capturingLogger>;
    const refused: string[] = [];

    before(async () => {
      capture = capturingLogger();
      http = new HttpServer({
        logger: capture.logger,
        maxBodyBytes: 1_024,
        adminAllow: (address) => address === '127.0.0.1',
        onAdminRefused: (address, pathname) => refused.push(`${address ?? ''} ${pathname}`),
      });
      http.register(probePlugin, {});
      port = await http.listen(0, '127.0.0.1');
    });
    after(async () => {
      await http.close();
    });

    // GIVEN a route with a querystring schema WHEN called with a bad value THEN 400 in the one error shape naming the field
    it('answers schema violations with a clear 400 in the error shape', async () => {
      const res = await httpGet(port, '/probe/typed?n=abc');
      expect(res.status).to.equal(400);
      expect(JSON.parse(res.body)).to.deep.equal({ success: false, error: 'querystring/n must be integer', code: 'INPUT_INVALID' });
      const missing = JSON.parse((await httpGet(port, '/probe/typed')).body) as Record<string, unknown>;
      expect(missing).to.deep.include({ success: false, code: 'INPUT_INVALID' });
      expect(String(missing['error'])).to.contain("must have required property 'n'");
    });

    // GIVEN no such route WHEN asked THEN 404 in the error shape
    it('answers unknown paths with 404 in the error shape', async () => {
      const res = await httpGet(port, '/nowhere');
      expect(res.status).to.equal(404);
      expect(JSON.parse(res.body)).to.deep.equal({ success: false, error: 'not found' });
    });

    // GIVEN a body cap of 1 KiB WHEN 2 KiB are posted THEN 413 in the error shape
    it('refuses a body over the cap with 413', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/probe/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(2_048) }),
        signal: AbortSignal.timeout(5_000),
      });
      expect(res.status).to.equal(413);
      expect(await res.json()).to.deep.include({ success: false, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    });

    // GIVEN a request WHEN answered THEN it carries an x-request-id, and the route's log lines carry the same reqId
    it('gives every request an id, in the answer and in the logs', async () => {
      const res = await fetch(`http://127.0.0.1:${port}/probe/typed?n=7`, { signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id');
      expect(id).to.match(/^[0-9a-f-]{36}$/);
      const line = capture.lines.find((l) => l['message'] === 'probe typed');
      expect(line).to.deep.include({ reqId: id, n: 7 });
      expect(capture.lines.find((l) => l['message'] === 'http request' && l['reqId'] === id)).to.deep.include({ status: 200, route: '/probe/typed' });
      // A proxy's id is kept, so one request can be followed across both logs.
      const relayed = await fetch(`http://127.0.0.1:${port}/probe/typed?n=1`, { headers: { 'x-request-id': 'proxy-req-0001' }, signal: AbortSignal.timeout(5_000) });
      await relayed.arrayBuffer();
      expect(relayed.headers.get('x-request-id')).to.equal('proxy-req-0001');
    });

    // GIVEN an admin route WHEN an address outside the allow-list asks THEN 403 in the error shape, reported
    it('keeps admin routes to the allow-list', async () => {
      expect((await httpGet(port, '/probe/admin', { localAddress: '127.0.0.1' })).status).to.equal(200);
      const outsider = await httpGet(port, '/probe/admin', { localAddress: '127.0.0.2' });
      expect(outsider.status).to.equal(403);
      expect(JSON.parse(outsider.body)).to.deep.equal({ success: false, error: 'forbidden: this address is not in HTTP_ADMIN_ALLOW' });
      expect(refused).to.deep.equal(['127.0.0.2 /probe/admin']);
    });
  });

  describe('makeCallUrl rate limit', () => {
    let http: HttpServer;
    let port: number;
    let started = 0;
    const tenant = (n: string): Enterprise => ({ number: n, clientId: `client-id-${n}-0123456789` }) as Enterprise;
    const tenants = [tenant('0001'), tenant('0002')];

    before(async () => {
      http = new HttpServer({ logger: silent });
      http.register(clickToCallPlugin, {
        enterprises: { findByClientId: async (clientId) => tenants.find((t) => t.clientId === clientId) ?? null },
        clickToCall: {
          start: async () => {
            started++;
            return { status: 'started', callId: `c2c-${started}` };
          },
        },
        logger: silent,
        rateLimit: { max: 2, windowMs: 60_000 },
      });
      port = await http.listen(0, '127.0.0.1');
    });
    after(async () => {
      await http.close();
    });

    const click = async (clientId: string, method: 'GET' | 'POST' = 'GET'): Promise<Response> => {
      const fields = new URLSearchParams({ clientId, code: '101', phone: '+375291234567' });
      return method === 'GET'
        ? fetch(`http://127.0.0.1:${port}${PATHS.makeCall}?${fields.toString()}`, { signal: AbortSignal.timeout(5_000) })
        : fetch(`http://127.0.0.1:${port}${PATHS.makeCall}`, { method: 'POST', body: fields, signal: AbortSignal.timeout(5_000) });
    };

    // GIVEN a limit of 2 a minute per clientId WHEN one clientId clicks 3 times (GET and POST) THEN the 3rd is 429; another clientId is not affected
    it('limits makeCallUrl per clientId', async () => {
      const [a, b] = tenants.map((t) => t.clientId) as [string, string];
      expect((await click(a, 'GET')).status).to.equal(200);
      expect((await click(a, 'POST')).status).to.equal(200);
      const limited = await click(a, 'GET');
      expect(limited.status).to.equal(429);
      expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 60);
      expect(await limited.json()).to.deep.include({ success: false, code: 'RATE_LIMITED' });
      expect(started).to.equal(2);
      expect((await click(b)).status).to.equal(200);
      expect(started).to.equal(3);
      // An unknown clientId is refused by the auth hook, not counted against anyone.
      const unknown = await click('nope');
      expect(unknown.status).to.equal(403);
      expect(await unknown.text()).to.equal('{"success":false}');
    });
  });

  describe('draining', () => {
    let http: HttpServer;
    let port: number;
    const health: HealthDeps = { liveCalls: { count: 0 }, agi: { activeSessions: 0 } } as unknown as HealthDeps;

    before(async () => {
      http = new HttpServer({ logger: silent });
      http.register(probePlugin, {});
      http.register(healthPlugin, health);
      port = await http.listen(0, '127.0.0.1');
    });
    after(async () => {
      await http.close();
    });

    // GIVEN a request in flight WHEN the server drains THEN new requests get 503 with the reason (health too) and the in-flight one finishes
    it('refuses new requests with the reason and lets in-flight ones finish', async () => {
      expect(JSON.parse((await httpGet(port, PATHS.health)).body)).to.deep.include({ status: 'ok' });
      const g = hold();
      const slow = fetch(`http://127.0.0.1:${port}/probe/slow`, { signal: AbortSignal.timeout(10_000) });
      await g.entered;
      http.startDraining();
      const refused = await httpGet(port, PATHS.health);
      expect(refused.status).to.equal(503);
      expect(JSON.parse(refused.body)).to.deep.equal({ success: false, error: 'shutting down', code: 'SHUTTING_DOWN' });
      // Closing: the listener goes, so new connections are refused, while the request in flight goes on.
      const closing = http.close();
      const fresh = await fetch(`http://127.0.0.1:${port}${PATHS.health}`, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => r.status,
        (err: unknown) => (err as { cause?: { code?: string } }).cause?.code,
      );
      expect(fresh).to.be.oneOf(['ECONNREFUSED', 503]);
      g.release();
      const res = await slow;
      await closing;
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ success: true, slow: true });
    });
  });
});
