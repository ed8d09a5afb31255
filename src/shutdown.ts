/**
 * The one module that owns process shutdown: the first SIGTERM/SIGINT starts a graceful stop (no new calls,
 * live calls drained to SHUTDOWN_DRAIN_MS, then everything closed); a second signal forces exit.
 * systemd's TimeoutStopSec sits above the drain deadline (systemd/retailcrm-agi.service).
 */
import type { Logger } from './logger.js';

export function installSignalHandlers(stop: (reason: string) => Promise<void>, logger: Logger): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn('second signal: forcing exit', { signal });
      process.exit(130);
    }
    stop(signal).then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
