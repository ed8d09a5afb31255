/**
 * Analytics benchmark: 1,000,000 generated calls of one busy enterprise over a year in a fresh database, then the
 * dashboard's page load (summary + managers + hourly + daily + missed, fetched together over HTTP through the real
 * router, figures cache off) for a month and for the year. Prints a markdown table of medians, and what the
 * analytics triggers (sql/006) add to a call's writes: 1,000 calls written like call-journal.ts does (insert at
 * start, upsert at /hangup), with the triggers and with them disabled.
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

const ENDPOINTS = ['summary', 'managers', 'hourly', 'daily', 'missed'] as const;
const RUNS = Number(process.env['ANALYTICS_BENCH_RUNS'] ?? 3);
const CALLS = Number(process.env['ANALYTICS_BENCH_CALLS'] ?? 1_000_000);

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
  return [line('without (disabled)', off), line('with (sql/006)', on)];
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
  try {
    await migrate(pool);
    const box = createSecretBox('bench'.repeat(8));
    const enterprises = new EnterpriseStore(pool, box);
    await enterprises.create({ number: 'busy', crmUrl: 'https://busy.retailcrm.ru', apiKey: 'bench-api-key', clientId: 'bench-client-id-0001',
      country: 'BY', site: null, settings: { crmTimezone: 'Europe/Minsk' } });
    const t0 = performance.now();
    const calls = await generateCalls(pool, { enterprise: 'busy', calls: CALLS, from: '2025-01-01', timezone: 'Europe/Minsk' });
    const genSec = (performance.now() - t0) / 1000;
    http.register(analyticsPlugin, { queries: createAnalyticsQueries(pool, { timeoutMs: 60_000 }), enterprises, box, logger, cacheMs: 0 });
    const base = `http://127.0.0.1:${await http.listen(0, '127.0.0.1')}`;
    const token = box.sign('dashboard', 'busy');
    const rows: string[] = [];
    for (const [label, from, to] of [['month', '2025-06-01', '2025-07-01'], ['year', '2025-01-01', '2026-01-01']] as const) {
      const per: Record<string, number[]> = {};
      const page: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const start = performance.now();
        await Promise.all(ENDPOINTS.map(async (e) => {
          const t = performance.now();
          const res = await fetch(`${base}/api/analytics/${e}?enterprise=busy&from=${from}&to=${to}`, {
            headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(120_000),
          });
          if (res.status !== 200) throw new Error(`${e}: HTTP ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
          (per[e] ??= []).push(performance.now() - t);
        }));
        page.push(performance.now() - start);
      }
      rows.push(`| ${label} (${from} – ${to}) | ${ENDPOINTS.map((e) => median(per[e] ?? []).toFixed(0)).join(' | ')} | ${median(page).toFixed(0)} |`);
      if (label === 'year') {
        const ms = median(page);
        opts.book?.record('analytics year view: page load (5 endpoints)', `${ms.toFixed(0)} ms on ${calls.toLocaleString('en')} calls`, 'under 150 ms', ms < 150);
      }
    }
    process.stderr.write(`${rows.join('\n')}\n`);
    const writes = await measureWrites(pool);
    return [
      `Analytics: ${calls.toLocaleString('en')} calls of one enterprise over 2025 (generated in ${genSec.toFixed(0)} s); ` +
        `page load = the 5 endpoints fetched in parallel, figures cache off; medians of ${RUNS} runs, ms.`,
      '',
      `| period | ${ENDPOINTS.join(' | ')} | page load |`,
      `|---|${ENDPOINTS.map(() => '---:').join('|')}|---:|`,
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
