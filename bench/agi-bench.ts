/**
 * Issue 2's benchmark: /incoming under concurrent simulated Asterisk sessions (cache hit, table hit, RetailCRM
 * miss at 0 and 200 ms) at concurrency 1, 50 and 500, against a bare node:net FastAGI server measured in the
 * same run; plus heap over a 100,000-session run. Figures: sessions/s, p50/p99 latency, ratio to the baseline.
 * The sessions are driven from a separate process (load-generator.ts), so the service's thread is measured alone.
 */
import { drive, percentile } from './agi-client.js';
import { cpuPerSession, cpuSnapshot, startProfile, type CpuParts } from './process-cpu.js';
import { startBareAgiServer } from './bare-agi-server.js';
import { startBenchEnv, startServiceFor, type BenchEnv } from './bench-env.js';
import { RemoteFakeCrm } from './crm-process.js';
import { startDingDongServer } from './ding-dong-server.js';
import type { GoalBook } from './goals.js';
import { INCOMING_URL, LoadGenerator, phone, type LoadPlan } from './load-generator.js';

interface Row {
  scenario: string;
  concurrency: number;
  sessions: number;
  perSec: number;
  p50: number;
  p99: number;
  /** CPU time per session, µs, including work the session left behind: this process (the server measured), the
   * generator, RetailCRM, the PostgreSQL backends of the bench database. */
  cpu: CpuParts;
}

/** Whose CPU measure() counts besides this process's. */
interface CpuWitnesses {
  readonly generator: number | undefined;
  readonly crm: number | undefined;
  readonly database: string | undefined;
}

let uid = 0;
const nextUid = (): string => `1795660000.${++uid}`;

let plans = 0;

/** One scenario, driven from the generator's own process. */
async function measure(
  generator: LoadGenerator,
  scenario: string,
  port: number,
  concurrency: number,
  sessions: number,
  callers: LoadPlan['callers'],
  settle?: () => Promise<void>,
  witnesses: CpuWitnesses = { generator: generator.pid, crm: undefined, database: undefined },
): Promise<Row> {
  const pids = { generator: witnesses.generator, crm: witnesses.crm };
  const cpu = cpuSnapshot(pids, witnesses.database);
  const { latencies, wallMs } = await generator.run({
    port,
    script: INCOMING_URL,
    sessions,
    concurrency,
    callers,
    uidPrefix: `17956${String(++plans).padStart(5, '0')}`,
  });
  await settle?.();
  return {
    scenario,
    cpu: cpuPerSession(cpu, cpuSnapshot(pids, witnesses.database), sessions),
    concurrency,
    sessions,
    perSec: (sessions / wallMs) * 1000,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function seedTable(env: Pick<BenchEnv, 'pool'>, from: number, count: number): Promise<void> {
  await env.pool.query(
    `insert into retailcrm_customers (enterprise, phone, customer_id, customer_name, manager_user_id)
     select '0367', '+37529' || lpad((1000000 + g)::text, 7, '0'), g + 1, 'Customer ' || g, 7
     from generate_series($1::int, $2::int) g
     on conflict do nothing`,
    [from, from + count - 1],
  );
}

export interface AgiBenchOptions {
  readonly quick?: boolean;
  /** Enterprise setting: send RetailCRM popups and record calls (issue 3) or only name and route. */
  readonly telephonyEvents: boolean;
}

export async function runAgiBench(opts: AgiBenchOptions): Promise<string> {
  const scale = opts.quick ? 0.1 : 1;
  const n = (x: number): number => Math.max(20, Math.round(x * scale));
  const rows: Row[] = [];
  const bare = await startBareAgiServer();
  const dingDong = await startDingDongServer();
  const env = await startBenchEnv({ telephonyEvents: opts.telephonyEvents });
  const generator = LoadGenerator.start();
  try {
    const port = env.service.agiPort;
    await drive(200, 10, (i) => ({ port: dingDong.port, script: 'incoming', callerId: phone(i), uniqueid: nextUid() }));
    await drive(200, 10, (i) => ({ port, script: 'incoming?enterprise=0367', callerId: phone(i % 5), uniqueid: nextUid() })); // warm-up
    await drive(200, 10, (i) => ({ port: bare.port, script: 'incoming', callerId: phone(i), uniqueid: nextUid() }));
    // Cache hit: one customer, already in the cache.
    await seedTable(env, 0, 1);
    let offset = 1_000;
    // Background work a scenario started (popups, call records) is finished before the next one is measured.
    const settle = async (): Promise<void> => {
      await env.service.drainBackground();
      env.crm.reset();
    };
    for (const [c, count] of [[1, 2_000], [50, 20_000], [500, 20_000]] as const) {
      await settle();
      rows.push(await measure(generator, 'bare node:net baseline', bare.port, c, n(count), { kind: 'sequence', base: 0 }));
      rows.push(await measure(generator, 'ding-dong (same work as bare)', dingDong.port, c, n(count), { kind: 'sequence', base: 0 }));
      rows.push(await measure(generator, 'cache hit', port, c, n(count), { kind: 'fixed', index: 0 }));
      await settle();
      // Table hit: a distinct number each session, every one already in retailcrm_customers.
      const tableCount = n(Math.min(count, 10_000));
      await seedTable(env, offset, tableCount);
      const base = offset;
      rows.push(await measure(generator, 'table hit', port, c, tableCount, { kind: 'sequence', base }));
      offset += tableCount;
      await settle();
    }
    for (const latency of [0, 200]) {
      env.crm.setLatency(latency);
      for (const [c, count] of [[1, latency ? 50 : 500], [50, latency ? 1_000 : 5_000], [500, latency ? 2_000 : 5_000]] as const) {
        const sessions = n(count);
        const base = offset;
        rows.push(await measure(generator, `RetailCRM miss, ${latency} ms`, port, c, sessions, { kind: 'sequence', base }));
        offset += sessions;
        await env.service.drainBackground();
      }
    }
    env.crm.setLatency(0);
  } finally {
    await generator.stop();
    await env.stop();
    await bare.close();
    await dingDong.close();
  }

  const baseline = new Map(rows.filter((r) => r.scenario.startsWith('bare')).map((r) => [r.concurrency, r]));
  const lines = [
    `| scenario | concurrency | sessions | sessions/s | p50 ms | p99 ms | p50 vs bare | throughput vs bare | generator ceiling (bare) sessions/s |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of rows) {
    const b = baseline.get(r.concurrency);
    const isBare = r.scenario.startsWith('bare');
    lines.push(
      `| ${r.scenario} | ${r.concurrency} | ${r.sessions} | ${r.perSec.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${
        b && !isBare ? `${(r.p50 / b.p50).toFixed(2)}x` : '1.00x'
      } | ${b && !isBare ? `${(r.perSec / b.perSec).toFixed(2)}x` : '1.00x'} | ${b ? b.perSec.toFixed(0) : '?'} |`,
    );
  }
  return lines.join('\n');
}

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

/**
 * Issue 11's /incoming goals, measured apart from the big tables so they can be repeated: cache hits with popups
 * on against the bare server (the generator's ceiling: it answers nothing but the protocol) and ding-dong, at
 * concurrency 1 and 50, interleaved, `rounds` times; medians of the rounds.
 */
export async function runIncomingGoals(book: GoalBook, opts: { quick?: boolean; rounds?: number; profile?: string } = {}): Promise<string> {
  const rounds = opts.rounds ?? 3;
  const scale = opts.quick ? 0.2 : 1;
  const bare = await startBareAgiServer();
  const dingDong = await startDingDongServer();
  // RetailCRM in its own process too, as in production: this thread runs the service alone.
  const crm = await RemoteFakeCrm.start();
  const env = await startServiceFor(crm, { telephonyEvents: true });
  const generator = LoadGenerator.start();
  const results = new Map<string, Row[]>();
  const add = (r: Row): void => {
    const key = `${r.scenario}@${r.concurrency}`;
    results.set(key, [...(results.get(key) ?? []), r]);
  };
  try {
    const port = env.service.agiPort;
    await seedTable(env, 0, 1);
    for (const p of [port, bare.port, dingDong.port]) {
      await drive(300, 10, (i) => ({ port: p, script: 'incoming?enterprise=0367', callerId: phone(0), uniqueid: `${nextUid()}w${i}` }));
    }
    for (let round = 0; round < rounds; round++) {
      for (const [c, count] of [[1, 1_000], [50, 10_000]] as const) {
        const sessions = Math.max(100, Math.round(count * scale));
        await env.service.drainBackground();
        await crm.reset();
        add(await measure(generator, 'bare node:net baseline', bare.port, c, sessions, { kind: 'fixed', index: 0 }));
        add(await measure(generator, 'ding-dong', dingDong.port, c, sessions, { kind: 'fixed', index: 0 }));
        const witnesses = { generator: generator.pid, crm: crm.pid, database: env.database };
        // --profile: a CPU profile of the service alone, during its first round at concurrency 50 (drain included).
        const profiler = opts.profile !== undefined && round === 0 && c === 50 ? await startProfile() : null;
        add(await measure(generator, 'cache hit, popups on', port, c, sessions, { kind: 'fixed', index: 0 }, () => env.service.drainBackground(), witnesses));
        if (profiler && opts.profile !== undefined) await profiler.stop(opts.profile);
        await env.service.drainBackground();
      }
    }
  } finally {
    await generator.stop();
    await env.stop();
    await crm.close();
    await bare.close();
    await dingDong.close();
  }
  const med = (scenario: string, c: number, f: (r: Row) => number): number => median((results.get(`${scenario}@${c}`) ?? []).map(f));
  const lines = [
    `Medians of ${rounds} interleaved rounds. Cache hit with popups on: every session also records the call and sends its popup; the load generator and the fake RetailCRM each run in a process of their own. The bare server is the generator's ceiling (it answers nothing but the protocol).`,
    '',
    '| scenario | concurrency | sessions/s | p50 ms | p99 ms | p50 vs bare | p99 vs bare | throughput vs bare |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const cpuLines = [
    '',
    'Where a session\'s CPU goes (µs per session, medians of the rounds; from /proc, so valid on a busy machine too): the server measured (this process), the load generator, the fake RetailCRM, the PostgreSQL backends of the bench database (the WAL writer and checkpointer are not counted).',
    '',
    '| scenario | concurrency | server | generator | RetailCRM | PostgreSQL | machine total | vs bare |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const c of [1, 50]) {
    const bareRow = { perSec: med('bare node:net baseline', c, (r) => r.perSec), p50: med('bare node:net baseline', c, (r) => r.p50), p99: med('bare node:net baseline', c, (r) => r.p99) };
    for (const scenario of ['bare node:net baseline', 'ding-dong', 'cache hit, popups on']) {
      const perSec = med(scenario, c, (r) => r.perSec);
      const p50 = med(scenario, c, (r) => r.p50);
      const p99 = med(scenario, c, (r) => r.p99);
      lines.push(`| ${scenario} | ${c} | ${perSec.toFixed(0)} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${(p50 / bareRow.p50).toFixed(2)}x | ${(p99 / bareRow.p99).toFixed(2)}x | ${(perSec / bareRow.perSec).toFixed(2)}x |`);
      const part = (k: keyof CpuParts): number => med(scenario, c, (r) => r.cpu[k]);
      const total = (sc: string): number => med(sc, c, (r) => r.cpu.server + r.cpu.generator + r.cpu.crm + r.cpu.postgres);
      cpuLines.push(`| ${scenario} | ${c} | ${part('server').toFixed(0)} | ${part('generator').toFixed(0)} | ${part('crm').toFixed(0)} | ${part('postgres').toFixed(0)} | ${total(scenario).toFixed(0)} | ${(total(scenario) / total('bare node:net baseline')).toFixed(2)}x |`);
    }
  }
  lines.push(...cpuLines);
  const ours = (c: number, f: (r: Row) => number): number => med('cache hit, popups on', c, f);
  const bareOf = (c: number, f: (r: Row) => number): number => med('bare node:net baseline', c, f);
  const p50Ratio = ours(1, (r) => r.p50) / bareOf(1, (r) => r.p50);
  book.record('cache-hit /incoming, popups on: p50 at concurrency 1', `${p50Ratio.toFixed(2)}x bare (${ours(1, (r) => r.p50).toFixed(2)} vs ${bareOf(1, (r) => r.p50).toFixed(2)} ms)`, 'within 1.3x bare', p50Ratio <= 1.3);
  const tputRatio = ours(50, (r) => r.perSec) / bareOf(50, (r) => r.perSec);
  book.record('cache-hit /incoming, popups on: throughput at concurrency 50', `${tputRatio.toFixed(2)}x bare (${ours(50, (r) => r.perSec).toFixed(0)} vs ${bareOf(50, (r) => r.perSec).toFixed(0)} sessions/s)`, 'at least 0.9x bare', tputRatio >= 0.9);
  const dd = med('ding-dong', 50, (r) => r.perSec);
  book.record('cache-hit /incoming, popups on: throughput at 50 vs ding-dong', `${ours(50, (r) => r.perSec).toFixed(0)} vs ding-dong ${dd.toFixed(0)} sessions/s`, "above ding-dong's", ours(50, (r) => r.perSec) > dd);
  const p99Ratio = ours(50, (r) => r.p99) / bareOf(50, (r) => r.p99);
  book.record('cache-hit /incoming, popups on: p99 at concurrency 50', `${p99Ratio.toFixed(2)}x bare (${ours(50, (r) => r.p99).toFixed(2)} vs ${bareOf(50, (r) => r.p99).toFixed(2)} ms)`, 'under 1.5x bare', p99Ratio < 1.5);
  return lines.join('\n');
}

/** Heap after GC every 10,000 cache-hit sessions over a 100,000-session run at concurrency 50. */
export async function runMemoryBench(opts: { quick?: boolean; telephonyEvents: boolean }): Promise<string> {
  const total = opts.quick ? 20_000 : 100_000;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return '(run with node --expose-gc for the memory figures)';
  const env = await startBenchEnv({ telephonyEvents: opts.telephonyEvents });
  const generator = LoadGenerator.start();
  const samples: string[] = [];
  try {
    await seedTable(env, 0, 1);
    const port = env.service.agiPort;
    const step = total / 10;
    for (let done = 0; done < total; done += step) {
      await generator.run({ port, script: INCOMING_URL, sessions: step, concurrency: 50, callers: { kind: 'fixed', index: 0 }, uidPrefix: `17957${String(++plans).padStart(5, '0')}` });
      await env.service.drainBackground();
      env.crm.reset(); // the fake RetailCRM (same process) keeps every request it received: not our memory
      gc();
      const m = process.memoryUsage();
      samples.push(`| ${done + step} | ${(m.heapUsed / 1048576).toFixed(1)} | ${(m.rss / 1048576).toFixed(1)} |`);
    }
  } finally {
    await generator.stop();
    await env.stop();
  }
  return ['| sessions | heap used MiB (after GC) | RSS MiB |', '|---:|---:|---:|', ...samples].join('\n');
}
