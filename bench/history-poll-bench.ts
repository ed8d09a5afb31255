/**
 * Issue 11's history-polling figure: RetailCRM `customers/history` + `orders/history` requests for one account
 * while 1, 2 or 5 instances poll it (in-process HistoryPollers on one real database, each with its own instance
 * id), against the one-instance count. One poll = one request per stream when nothing changed.
 */
import { HistoryPoller } from '../src/sync/history-poller.js';
import { createSyncFixture } from '../test/helpers/sync-fixture.js';
import type { GoalBook } from './goals.js';

export async function runHistoryPollBench(opts: { quick?: boolean; book?: GoalBook } = {}): Promise<string> {
  const intervalMs = 500;
  const windowMs = opts.quick ? 3_000 : 10_000;
  const f = await createSyncFixture();
  const lines = [
    `Each instance polls every ${intervalMs} ms for ${windowMs / 1000} s (the interval scaled down from 60 s); requests to */history.`,
    '',
    '| instances | history requests | polls (2 requests each) | vs 1 instance |',
    '|---:|---:|---:|---:|',
  ];
  try {
    let single = 0;
    for (const n of [1, 2, 5]) {
      await f.reset();
      const pollers = Array.from({ length: n }, (_, i) => new HistoryPoller({
        pool: f.db.pool, crm: f.client, enterprises: f.enterprises, customers: f.customers, orders: f.orders,
        logger: f.logger, intervalMs, instanceId: `bench-${i}`,
      }));
      for (const p of pollers) p.start();
      await new Promise((r) => setTimeout(r, windowMs));
      await Promise.all(pollers.map((p) => p.stop()));
      const requests = f.fake.requests({ path: /\/history$/ }).length;
      if (n === 1) single = requests;
      lines.push(`| ${n} | ${requests} | ${requests / 2} | ${(requests / single).toFixed(2)}x |`);
      // The same number within one poll (2 requests): instances start a few ms apart, so a window may hold one more.
      if (n > 1) opts.book?.record(`history polling: requests with ${n} instances`, `${requests} vs ${single} with 1 instance`, 'the same (within one poll)', Math.abs(requests - single) <= 2);
    }
  } finally {
    await f.close();
  }
  return lines.join('\n');
}
