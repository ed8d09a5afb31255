/**
 * The one module that owns process shutdown: the first SIGTERM/SIGINT starts a graceful stop (no new calls,
 * live calls and deliveries drained to SHUTDOWN_DRAIN_MS each, then everything closed, the embedded PostgreSQL
 * last) and the process exits 0; a second signal forces exit (status 130). Nothing else in the process may exit
 * it or handle these signals. systemd's TimeoutStopSec sits above the drains (systemd/retailcrm-agi.service).
 */
import type { Logger } from './lib/logger.js';

export interface ShutdownOptions {
  /** Called on the forcing signal, just before exiting: must be synchronous (e.g. SIGQUIT to a child). */
  readonly onForce?: () => void;
  /** After a finished stop, how long anything left open may keep the process alive before it exits anyway. */
  readonly lingerMs?: number;
}

export const FORCED_EXIT_STATUS = 130;

export function installSignalHandlers(stop: (reason: string) => Promise<void>, logger: Logger, opts: ShutdownOptions = {}): void {
  let signals = 0;
  const exitSoonAfterStop = (): void => {
    // Everything we own is closed; a leaked handle must not turn a clean stop into a systemd kill.
    const timer = setTimeout(() => {
      logger.warn('still running after the stop; exiting', { open: process.getActiveResourcesInfo() });
      process.exit();
    }, opts.lingerMs ?? 3_000);
    timer.unref();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      logger.warn('second signal: forcing exit', { signal });
      opts.onForce?.();
      process.exit(FORCED_EXIT_STATUS);
    }
    stop(signal).then(
      () => {
        process.exitCode = 0;
        exitSoonAfterStop();
      },
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exitCode = 1;
        exitSoonAfterStop();
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
