/**
 * Root hooks. Before the run: find the PostgreSQL the tests use (TEST_DATABASE_URL, else 127.0.0.1:5432, else an
 * embedded PostgreSQL started for the run, and said so; TEST_EMBEDDED_PG=1 forces the last). After the whole run,
 * fail loudly if a test left a server, socket or timer open (STYLE.md §21): mocha is never run with --exit, so a
 * leak would otherwise show up only as a hung run.
 */
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkReachable } from '../../src/db/connect.js';
import type { EmbeddedDatabase } from '../../src/db/embedded.js';
import { waitFor } from './async.js';
import { DEFAULT_ADMIN_URL, dropTemplate, useAdminUrl } from './pg.js';

const LEAKY = new Set(['TCPServerWrap', 'TCPSocketWrap', 'PipeServerWrap', 'Timeout', 'FSReqCallback']);

function openResources(): string[] {
  const open = process.getActiveResourcesInfo().filter((r) => LEAKY.has(r));
  // Mocha keeps one timer of its own for the running hook, even with timeout(0).
  const mine = open.indexOf('Timeout');
  if (mine >= 0) open.splice(mine, 1);
  return open;
}

let embedded: { db: EmbeddedDatabase; dirs: string[] } | undefined;

async function startEmbeddedForRun(reason: string): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-testpg-'));
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-testpg-state-'));
  await chmod(stateDir, 0o755);
  process.stderr.write(`test: ${reason}; starting an embedded PostgreSQL for this run (${dataDir})\n`);
  const { startEmbeddedPostgres } = await import('../../src/db/embedded.js');
  const db = await startEmbeddedPostgres({ dataDir, port: 0, stateDir });
  embedded = { db, dirs: [dataDir, stateDir] };
  useAdminUrl(db.url);
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(0);
    if (process.env['TEST_DATABASE_URL'] !== undefined) return;
    if (process.env['TEST_EMBEDDED_PG'] === '1') return startEmbeddedForRun('TEST_EMBEDDED_PG=1');
    const local = await checkReachable(DEFAULT_ADMIN_URL, 3_000).then(() => true, () => false);
    if (!local) await startEmbeddedForRun('no PostgreSQL answers on 127.0.0.1:5432 and TEST_DATABASE_URL is unset');
  },

  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(0);
    await dropTemplate();
    if (embedded) {
      await embedded.db.stop();
      for (const dir of embedded.dirs) await rm(dir, { recursive: true, force: true });
      embedded = undefined;
    }
    // Sockets closed in the last test's teardown may need a few turns of the event loop to go away; what is still
    // open after a second was left open.
    await waitFor('every resource the tests opened to be closed', () => {
      const left = openResources();
      if (left.length > 0) throw new Error(`tests left resources open: ${left.join(', ')}`);
      return true;
    }, { timeoutMs: 1_000, intervalMs: 10 });
  },
};
