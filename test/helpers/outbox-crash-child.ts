/**
 * A real process that dies mid-job: it claims one job of kind `crash` (ordered) from the database in argv[2] and
 * the handler kills the process with SIGKILL before any outcome is written. For the outbox's crash tests.
 */
import { createPool } from '../../src/db/pool.js';
import { createLogger } from '../../src/lib/logger.js';
import { OutboxWorker } from '../../src/outbox/worker.js';

const url = process.argv[2];
if (url === undefined) throw new Error('usage: outbox-crash-child <database url>');
const pool = createPool({ connectionString: url, max: 2 });
const worker = new OutboxWorker({
  pool,
  workerId: 'crashing',
  concurrency: 1,
  pollIntervalMs: 60_000,
  lockTimeoutMs: 60_000,
  maxAttempts: 100,
  logger: createLogger({ level: 'error', silent: true }),
  handlers: {
    crash: {
      serial: true,
      handle: async () => {
        process.kill(process.pid, 'SIGKILL');
        return new Promise(() => undefined);
      },
    },
  },
});
await worker.runOnce();
