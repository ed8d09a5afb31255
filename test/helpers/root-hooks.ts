/**
 * Root hooks: after the whole run, fail loudly if a test left a server, socket or timer open (STYLE.md §21).
 * Mocha is never run with --exit, so a leak would otherwise show up only as a hung run.
 */
import { dropTemplate } from './pg.js';

const LEAKY = new Set(['TCPServerWrap', 'TCPSocketWrap', 'PipeServerWrap', 'Timeout', 'FSReqCallback']);

function openResources(): string[] {
  const open = process.getActiveResourcesInfo().filter((r) => LEAKY.has(r));
  // Mocha keeps one timer of its own for the running hook, even with timeout(0).
  const mine = open.indexOf('Timeout');
  if (mine >= 0) open.splice(mine, 1);
  return open;
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(0);
    await dropTemplate();
    // Sockets closed in the last test's teardown may need a turn of the event loop to go away.
    for (let i = 0; i < 20 && openResources().length > 0; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50).unref());
    const left = openResources();
    if (left.length > 0) {
      throw new Error(`tests left resources open: ${left.join(', ')}`);
    }
  },
};
