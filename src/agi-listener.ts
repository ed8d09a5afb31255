/**
 * The FastAGI listener as the service runs it: AGI_ALLOW checked at accept, limits from the config, and every
 * refusal and failure logged (refusals at most once a minute per peer) and counted. Part of the composition root.
 */
import { createAgiServer, type AgiServer } from './agi/server.js';
import type { RefusalLogThrottle } from './access/refusal-log-throttle.js';
import type { Config } from './config/config.js';
import { AddressAllowList } from './lib/address-allow-list.js';
import { errorCode } from './lib/errors.js';
import type { Logger } from './lib/logger.js';
import type { Metrics } from './metrics/metrics.js';

export interface FastAgiParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly router: Parameters<typeof createAgiServer>[0]['handler'];
  readonly refusalLog: RefusalLogThrottle;
}

export function createFastAgiServer({ config, logger, metrics, router, refusalLog }: FastAgiParts): AgiServer {
  const agiAllow = new AddressAllowList(config.agiAllow);
  const agi: AgiServer = createAgiServer({
    handler: router,
    allowPeer: (address) => agiAllow.allows(address),
    maxSessions: config.agiMaxSessions,
    envTimeoutMs: 5_000,
    commandTimeoutMs: 5_000,
    idleTimeoutMs: config.agiIdleTimeoutMs,
  });
  agi.on('sessionError', (err) => {
    const code = errorCode(err);
    if (code === 'AGI_HANGUP' || code === 'AGI_CLOSED') logger.info('AGI session ended early', { code });
    else logger.warn('AGI session failed', { code, err });
  });
  agi.on('sessionRefused', (peer, reason) => {
    metrics.agiRefused.inc({ reason, enterprise: '' });
    if (reason === 'not_allowed' && refusalLog.shouldLog(peer)) {
      logger.warn('FastAGI connection refused: peer not in AGI_ALLOW (logged once a minute per peer)', { peer });
    }
    else if (reason === 'max_sessions') logger.warn('FastAGI connection refused: AGI_MAX_SESSIONS reached', { max: config.agiMaxSessions });
  });
  agi.on('serverError', (err) => logger.error('AGI listener failed', { err }));
  return agi;
}
