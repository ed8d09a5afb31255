/**
 * Which pipeline runs for which FastAGI script path (`agi://host:4573/incoming`, `/outgoing`, `/hangup`).
 * An unknown path is logged and closed: the dialplan goes on with its default route.
 */
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { AgiChannel } from './agi-channel.js';

export type ScriptHandler = (session: AgiChannel) => Promise<void>;

export function createAgiRouter(
  routes: Readonly<Record<string, ScriptHandler>>,
  deps: { readonly logger: Logger; readonly metrics: Metrics },
): (session: AgiChannel) => Promise<void> {
  return async (session) => {
    const started = performance.now();
    const handler = Object.hasOwn(routes, session.script) ? routes[session.script] : undefined;
    let outcome = 'ok';
    try {
      if (!handler) {
        outcome = 'unknown_script';
        deps.logger.warn('unknown FastAGI script', { script: session.script.slice(0, 64), channel: session.env.channel });
        return;
      }
      await handler(session);
    } catch (err) {
      outcome = session.hungUp ? 'hangup' : 'error';
      throw err;
    } finally {
      deps.metrics.agiSessions.inc({ script: handler ? session.script : 'unknown', outcome });
      deps.metrics.sessionSeconds.observe({ script: handler ? session.script : 'unknown' }, (performance.now() - started) / 1000);
    }
  };
}
