/**
 * Issue 3's benchmark: full calls (/incoming, then /hangup) against the fake RetailCRM. Reports popup latency
 * (AGI session start → call/event received by RetailCRM), RetailCRM requests per call, and the catch-up time
 * after a simulated 10-minute outage at 5 calls/s (3,000 calls) with RetailCRM's real rate limits enforced.
 */
import { drive, percentile, runSession } from './agi-client.js';
import { startBenchEnv, startServiceFor } from './bench-env.js';
import { RemoteFakeCrm } from './crm-process.js';
import { INCOMING_URL, LoadGenerator, phone as generatorPhone, type LoadPlan } from './load-generator.js';
import type { GoalBook } from './goals.js';

/** The 300 customers' numbers: the generator's own numbering (load-generator.ts phone) from 2,000 on. */
const CALLER_BASE = 2_000;
const phone = (i: number): string => generatorPhone(CALLER_BASE + i);
const RING_MS = 250;
const ANSWERED = { DIALSTATUS: 'ANSWER', ANSWEREDTIME: '42', DIALEDPEERNUMBER: '101', 'CDR(disposition)': 'ANSWERED' };
let uid = 0;
/** Every /hangup session of part 1: its length (connect → close) and how many AGI commands it sent. */
const hangupSessions: { ms: number; commands: number }[] = [];

/** A call, driven from this process (the outage part): /incoming, then /hangup. */
async function fullCall(port: number, i: number): Promise<string> {
  const linkedid = `1795690000.${++uid}`;
  await runSession({ port, script: 'incoming?enterprise=0367', callerId: phone(i), uniqueid: linkedid });
  await runSession({
    port,
    script: 'hangup?enterprise=0367',
    callerId: phone(i),
    uniqueid: linkedid,
    variables: { ...ANSWERED, 'CHANNEL(linkedid)': linkedid },
  });
  return linkedid;
}

/** Popup latency of `total` whole calls at `concurrency`, from the generator's and RetailCRM's own processes. */
async function popupRound(
  generator: LoadGenerator,
  crm: RemoteFakeCrm,
  port: number,
  plan: { concurrency: number; total: number; callers: LoadPlan['callers']; tag: string },
): Promise<{ latencies: number[]; requestsPerCall: number; hangups: { ms: number; commands: number }[] }> {
  const result = await generator.run({
    port,
    script: INCOMING_URL,
    sessions: plan.total,
    concurrency: plan.concurrency,
    callers: plan.callers,
    uidPrefix: `1795690${plan.tag}`,
    call: { ringMs: RING_MS, hangupScript: 'hangup?enterprise=0367', hangupVariables: ANSWERED },
  });
  const deadline = Date.now() + 60_000;
  let stats = await crm.stats();
  while (stats.uploadedCalls < plan.total || stats.events < 2 * stats.popups.length) {
    if (Date.now() > deadline) throw new Error(`benchmark: ${stats.uploadedCalls}/${plan.total} calls uploaded in time`);
    await new Promise((r) => setTimeout(r, 20));
    stats = await crm.stats();
  }
  const starts = new Map(result.starts ?? []);
  const latencies: number[] = [];
  for (const [id, at] of stats.popups) {
    const start = starts.get(id);
    if (start !== undefined) latencies.push(at - start);
  }
  return { latencies, requestsPerCall: stats.requests / plan.total, hangups: result.hangups ?? [] };
}

export async function runCallFlowBench(opts: { quick?: boolean; book?: GoalBook } = {}): Promise<string> {
  const lines: string[] = [];
  // 1. Popup latency and requests per call, RetailCRM answering at once. The generator and RetailCRM each run in a
  // process of their own, so this thread runs the service alone; both stamp times on one clock (epochNow).
  {
    const crm = await RemoteFakeCrm.start();
    const env = await startServiceFor(crm, { telephonyEvents: true });
    const generator = LoadGenerator.start();
    try {
      const port = env.service.agiPort;
      const customers = Array.from({ length: 300 }, (_, i) => ({ firstName: `C${i}`, phones: [phone(i)], managerId: 7 }));
      lines.push(`Each call: /incoming, ${RING_MS} ms of ringing, /hangup (answered). Popup latency = AGI connect → call/event received by RetailCRM. The load generator and the fake RetailCRM each run in a process of their own. New callers: each call's number is asked of RetailCRM first (the lookup is on the popup's path: the popup goes to the routed manager). Repeat callers: the same numbers again, from the cache.`);
      lines.push('');
      lines.push('| callers | concurrent calls | calls | popups received | popup p50 ms | popup p99 ms | CRM requests per call | /hangup session p50 ms |');
      lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
      const plan: [number, number][] = opts.quick ? [[1, 50], [10, 150], [50, 300]] : [[1, 200], [10, 600], [50, 2_000]];
      let round = 0;
      for (const [concurrency, total] of plan) {
        for (const callers of ['new', 'repeat'] as const) {
          if (callers === 'new') {
            await env.service.drainBackground();
            await crm.reset();
            await crm.addCustomers(customers);
            env.service.lookup.invalidateAll();
          } else {
            await crm.reset();
            await crm.addCustomers(customers);
          }
          const r = await popupRound(generator, crm, port, { concurrency, total, callers: { kind: 'sequence', base: CALLER_BASE, modulo: 300 }, tag: String(++round).padStart(3, '0') });
          await env.service.drainBackground();
          hangupSessions.push(...r.hangups);
          if (concurrency <= 10 && opts.book) {
            const p50 = percentile(r.latencies, 50);
            const p99 = percentile(r.latencies, 99);
            const who = `${callers} callers`;
            opts.book.record(`popup latency: p50 at ${concurrency} concurrent call(s), ${who}`, `${p50.toFixed(1)} ms (${r.latencies.length}/${total} popups)`, 'under 5 ms', p50 < 5 && r.latencies.length === total);
            opts.book.record(`popup latency: p99 at ${concurrency} concurrent call(s), ${who}`, `${p99.toFixed(1)} ms`, 'under 20 ms', p99 < 20 && r.latencies.length === total);
          }
          lines.push(
            `| ${callers} | ${concurrency} | ${total} | ${r.latencies.length} | ${percentile(r.latencies, 50).toFixed(1)} | ${percentile(r.latencies, 99).toFixed(1)} | ${r.requestsPerCall.toFixed(2)} | ${percentile(r.hangups.map((h) => h.ms), 50).toFixed(1)} |`,
          );
        }
      }
    } finally {
      await generator.stop();
      await env.stop();
      await crm.close();
    }
  }
  {
    const ms = hangupSessions.map((h) => h.ms);
    const commands = hangupSessions.map((h) => h.commands);
    lines.push('');
    lines.push(`/hangup sessions (${hangupSessions.length}): p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms; AGI commands per session: ${Math.min(...commands)}–${Math.max(...commands)} (each is a round trip to Asterisk, which answers one at a time).`);
    hangupSessions.length = 0;
    opts.book?.record('/hangup round trips: AGI commands per session', `${Math.max(...commands)} (p50 ${percentile(ms, 50).toFixed(2)} ms a session)`, 'one or two', Math.max(...commands) <= 2);
  }
  // 2. Catch-up after an outage: 3,000 calls while RetailCRM is down, then back, with its real limits.
  {
    const outageCalls = opts.quick ? 600 : 3_000;
    const env = await startBenchEnv(
      { telephonyEvents: true },
      { crmRates: { telephony: 40, general: 10 }, env: { OUTBOX_POLL_INTERVAL_MS: '200', OUTBOX_RETRY_CAP_MS: '2000' } },
    );
    try {
      const port = env.service.agiPort;
      for (let i = 0; i < 300; i++) env.crm.addCustomer({ firstName: `C${i}`, phones: [phone(i)], managerId: 7 });
      await drive(50, 10, (i) => ({ port, script: 'incoming?enterprise=0367', callerId: phone(i % 300), uniqueid: `w${i}` })); // warm the cache
      // The warm-up calls' popups are delivered before the outage (else, never hung up, they would count as late).
      await env.service.drainBackground();
      env.crm.setMode('down');
      let n = 0;
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          while (n < outageCalls) await fullCall(port, n++ % 300);
        }),
      );
      await env.service.drainBackground();
      env.crm.reset();
      env.crm.setRateLimit({ perSecond: 10, telephonyPerSecond: 40 });
      const back = performance.now();
      await waitFor(() => env.crm.account().calls.size >= outageCalls, 600_000);
      const catchUpMs = performance.now() - back;
      const uploads = env.crm.requests({ path: '/api/v5/telephony/calls/upload' }).length;
      const popups = env.crm.requests({ path: '/api/v5/telephony/call/event' }).length;
      lines.push('');
      lines.push('| outage calls | catch-up s | upload requests | calls per request | popups sent late | limit at 40 req/s would allow (s) |');
      lines.push('|---:|---:|---:|---:|---:|---:|');
      lines.push(
        `| ${outageCalls} | ${(catchUpMs / 1000).toFixed(2)} | ${uploads} | ${(outageCalls / uploads).toFixed(1)} | ${popups} | ${(Math.ceil(outageCalls / 50) / 40).toFixed(2)} |`,
      );
    } finally {
      await env.stop();
    }
  }
  return lines.join('\n');
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('benchmark condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
