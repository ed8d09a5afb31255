/**
 * Analytics benchmark: 1,000,000 generated calls of one busy enterprise over a year in a fresh database, then the
 * dashboard page as a browser loads it (`GET /dashboard`: one request that computes every panel — figures with
 * sale conversion, hourly, daily, the waiting list with open tasks, call-back tasks, leads) and the JSON endpoints
 * fetched together over HTTP through the real router (figures cache off), for a month and for the year; the year
 * again with every order a sale (the sale statuses changed, which rebuilds the enterprise's sale conversion). Prints
 * a markdown table of medians, and what the analytics triggers (sql/006, sql/017) add to a call's writes: 1,000
 * calls written like call-journal.ts does (insert at start, upsert at /hangup), with the triggers and without.
 * Run alone: `node dist/bench/analytics-bench.js` (TEST_DATABASE_URL or the local PostgreSQL).
 */
import { adminQuery } from './bench-env.js';
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createAnalyticsQueries } from '../src/analytics/analytics-store.js';
import { analyticsPlugin } from '../src/analytics/analytics-routes.js';
import { EnterpriseStore } from '../src/db/enterprise-store.js';
import { migrate } from '../src/db/migrate.js';
import { createPool, type Pool } from '../src/db/pool.js';
import { HttpServer } from '../src/http/http-server.js';
import { createLogger } from '../src/lib/logger.js';
import { createSecretBox } from '../src/secrets/secret-box.js';
import { generateCalls } from './generate-calls.js';
import type { GoalBook } from './goals.js';

const ENDPOINTS = ['summary', 'managers', 'hourly', 'daily', 'missed', 'leads'] as const;
const RUNS = Number(process.env['ANALYTICS_BENCH_RUNS'] ?? 3);
const CALLS = Number(process.env['ANALYTICS_BENCH_CALLS'] ?? 1_000_000);
const ANALYTICS_POOL_MAX = 2; // config.ts: DB_ANALYTICS_POOL_MAX's default

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

const WRITES = 1_000;

async function writeCalls(pool: Pool, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    const id = `w-${tag}-${i}`;
    const inbound = i % 3 !== 0;
    const answered = !(inbound && i % 7 === 1);
    const phone = `+37529${String(1 + Math.floor(150_000 * ((i * 7919) % 1000 / 1000) ** 2)).padStart(7, '0')}`;
    const started = new Date(Date.UTC(2025, 11, 20, 8, 0, 0) + i * 37_000);
    const ext = String(101 + (i % 40));
    const t = performance.now();
    await pool.query(
      `insert into calls (enterprise, linkedid, external_id, direction, phone, ring_codes, started_at)
       values ('busy', $1, $1, $2, $3, $4, $5) on conflict (enterprise, linkedid) do nothing`,
      [id, inbound ? 'in' : 'out', phone, [ext], started],
    );
    await pool.query(
      `insert into calls (enterprise, linkedid, external_id, direction, phone, ring_codes, started_at, ended_at, answered,
         result, hangup_status, manager_code, manager_user_id, duration_sec, waiting_sec)
       values ('busy', $1, $1, $2, $3, $4, $5, $6, $7, $8, $13, $9, $10, $11, $12)
       on conflict (enterprise, linkedid) do update set ended_at = excluded.ended_at, answered = excluded.answered,
         result = excluded.result, hangup_status = excluded.hangup_status, manager_code = excluded.manager_code,
         manager_user_id = excluded.manager_user_id, duration_sec = excluded.duration_sec,
         waiting_sec = excluded.waiting_sec, updated_at = now()
       where calls.ended_at is null`,
      [id, inbound ? 'in' : 'out', phone, [ext], started, new Date(started.getTime() + 30_000), answered,
        answered ? 'answered' : 'no answer', ext, Number(ext) - 100, answered ? 20 : 0, 10,
        answered ? 'answered' : 'no answered'],
    );
    times.push(performance.now() - t);
  }
  return times;
}

async function measureWrites(pool: Pool): Promise<string[]> {
  const line = (label: string, xs: number[]): string => {
    const s = [...xs].sort((a, b) => a - b);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return `| ${label} | ${mean.toFixed(2)} | ${median(xs).toFixed(2)} | ${(s[Math.floor(s.length * 0.99)] ?? NaN).toFixed(2)} |`;
  };
  await pool.query('alter table calls disable trigger user');
  let off: number[];
  try {
    off = await writeCalls(pool, 'off');
  } finally {
    await pool.query('alter table calls enable trigger user');
  }
  const on = await writeCalls(pool, 'on');
  return [line('without (disabled)', off), line('with (sql/006 + sql/017)', on)];
}

export async function runAnalyticsBench(opts: { book?: GoalBook } = {}): Promise<string> {
  const adminUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `rcrm_bench_${randomBytes(4).toString('hex')}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await adminQuery(adminUrl, `create database ${name}`);
  const pool = createPool({ connectionString: url.toString(), max: 8, statementTimeoutMs: 900_000 });
  const logger = createLogger({ level: 'error', silent: true });
  const http = new HttpServer({ logger });
  const pools: Pool[] = [];
  try {
    await migrate(pool);
    const box = createSecretBox('bench'.repeat(8));
    const enterprises = new EnterpriseStore(pool, box);
    await enterprises.create({ number: 'busy', crmUrl: 'https://busy.retailcrm.ru', apiKey: 'bench-api-key', clientId: 'bench-client-id-0001',
      country: 'BY', site: null, settings: { crmTimezone: 'Europe/Minsk' } });
    const t0 = performance.now();
    const calls = await generateCalls(pool, { enterprise: 'busy', calls: CALLS, from: '2025-01-01', timezone: 'Europe/Minsk' });
    const genSec = (performance.now() - t0) / 1000;
    // As main.ts serves it: a pool of its own with DB_ANALYTICS_POOL_MAX's default (2) connections, at most twice
    // that many requests computed at once.
    const analyticsPool = createPool({ connectionString: url.toString(), max: ANALYTICS_POOL_MAX });
    pools.push(analyticsPool);
    http.register(analyticsPlugin, {
      queries: createAnalyticsQueries(analyticsPool, { timeoutMs: 60_000 }), enterprises, box, logger, cacheMs: 0,
      maxConcurrent: ANALYTICS_POOL_MAX * 2,
    });
    const base = `http://127.0.0.1:${await http.listen(0, '127.0.0.1')}`;
    const token = box.sign('dashboard', 'busy');
    const rows: string[] = [];
    const get = async (path: string): Promise<number> => {
      const t = performance.now();
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(120_000) });
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      return performance.now() - t;
    };
    const measure = async (label: string, from: string, to: string): Promise<number> => {
      const query = `enterprise=busy&from=${from}&to=${to}`;
      const per: Record<string, number[]> = {};
      const page: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        page.push(await get(`/dashboard?${query}`));
        for (const e of ENDPOINTS) (per[e] ??= []).push(await get(`/api/analytics/${e}?${query}`));
      }
      rows.push(`| ${label} (${from} – ${to}) | ${median(page).toFixed(0)} | ${ENDPOINTS.map((e) => median(per[e] ?? []).toFixed(0)).join(' | ')} |`);
      return median(page);
    };
    await measure('month', '2025-06-01', '2025-07-01');
    const year = await measure('year', '2025-01-01', '2026-01-01');
    opts.book?.record('analytics year view: dashboard page load', `${year.toFixed(0)} ms on ${calls.toLocaleString('en')} calls`, 'under 150 ms', year < 150);
    // The worst case for sale conversion: every generated order ('new' or 'complete') counts as a sale.
    const t1 = performance.now();
    await pool.query(`update enterprises set settings = settings || '{"saleStatuses":["complete","new"]}' where number = 'busy'`);
    const salesRebuildSec = (performance.now() - t1) / 1000;
    await measure('year, every order a sale', '2025-01-01', '2026-01-01');
    process.stderr.write(`${rows.join('\n')}\n`);
    const writes = await measureWrites(pool);
    return [
      `Analytics: ${calls.toLocaleString('en')} calls of one enterprise over 2025 (generated in ${genSec.toFixed(0)} s); ` +
        `dashboard = GET /dashboard (every panel, one request, as a browser loads the page); then each JSON endpoint ` +
        `alone; analytics pool of ${ANALYTICS_POOL_MAX} connections (the default), figures cache off; medians of ${RUNS} ` +
        `runs, ms. Changing the sale statuses (the last row) ` +
        `took ${salesRebuildSec.toFixed(1)} s (rebuild of the enterprise's sale conversion and rollup).`,
      '',
      `| period | dashboard | ${ENDPOINTS.join(' | ')} |`,
      `|---|---:|${ENDPOINTS.map(() => '---:').join('|')}|`,
      ...rows,
      '',
      `Writes: ${WRITES} calls (insert at start + /hangup upsert, autocommit, one connection, ~15% missed inbound), ms per call:`,
      '',
      '| triggers | mean | p50 | p99 |',
      '|---|---:|---:|---:|',
      ...writes,
    ].join('\n');
  } finally {
    await http.close();
    for (const p of pools) await p.end();
    await pool.end();
    await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
  }
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMain()) {
  runAnalyticsBench().then((table) => process.stdout.write(`${table}\n`), (err: unknown) => {
    process.stderr.write(`analytics bench failed: ${String(err)}\n`);
    process.exitCode = 1;
  });
}
