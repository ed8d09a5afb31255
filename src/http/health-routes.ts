/** `/health` (liveness plus database reachability and live calls) and `/metrics` (Prometheus text). */
import type { AgiServer } from '../agi/server.js';
import type { LiveCalls } from '../calls/live-calls.js';
import type { Pool } from '../db/pool.js';
import type { Metrics } from '../metrics.js';
import { raceDeadline } from '../deadline.js';
import { json, type HttpServer } from './http-server.js';
import { PATHS } from './public-paths.js';

export function registerHealthRoutes(
  http: HttpServer,
  deps: { pool: Pool; liveCalls: LiveCalls; metrics: Metrics; agi: AgiServer },
): void {
  http.route(['GET', 'HEAD'], PATHS.health, async () => {
    let database = 'ok';
    try {
      await raceDeadline(deps.pool.query('select 1'), Date.now() + 2_000);
    } catch {
      database = 'unreachable';
    }
    const ok = database === 'ok';
    return json(ok ? 200 : 503, {
      status: ok ? 'ok' : 'degraded',
      database,
      liveCalls: deps.liveCalls.count,
      agiSessions: deps.agi.activeSessions,
    });
  });
  http.route(['GET'], PATHS.metrics, async () => {
    deps.metrics.liveCalls.set({}, deps.liveCalls.count);
    return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: deps.metrics.render() };
  }, { access: 'admin' });
}
