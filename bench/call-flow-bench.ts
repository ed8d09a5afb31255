/**
 * Issue 3's benchmark: full calls (/incoming, then /hangup) against the fake RetailCRM. Reports popup latency
 * (AGI session start → call/event received by RetailCRM), RetailCRM requests per call, and the catch-up time
 * after a simulated 10-minute outage at 5 calls/s (3,000 calls) with RetailCRM's real rate limits enforced.
 */
import { drive, percentile, runSession } from './agi-client.js';
import { startBenchEnv } from './bench-env.js';
import type { GoalBook } from './goals.js';

const phone = (i: number): string => `+37529${String(2_000_000 + i).padStart(7, '0')}`;
const RING_MS = 250;
const ANSWERED = { DIALSTATUS: 'ANSWER', ANSWEREDTIME: '42', DIALEDPEERNUMBER: '101', 'CDR(disposition)': 'ANSWERED' };
let uid = 0;
/** Every /hangup session of part 1: its length (connect → close) and how many AGI commands it sent. */
const hangupSessions: { ms: number; commands: number }[] = [];

/** A call: /incoming, the phone rings for `ringMs` (real calls ring seconds), then /hangup. */
async function fullCall(port: number, i: number, onConnect?: (at: number) => void, ringMs = 0): Promise<string> {
  const linkedid = `1795690000.${++uid}`;
  await runSession({
    port,
    script: 'incoming?enterprise=0367',
    callerId: phone(i),
    uniqueid: linkedid,
    ...(onConnect ? { onConnect } : {}),
  });
  if (ringMs > 0) await new Promise((r) => setTimeout(r, ringMs));
  const hangup = await runSession({
    port,
    script: 'hangup?enterprise=0367',
    callerId: phone(i),
    uniqueid: linkedid,
    variables: { ...ANSWERED, 'CHANNEL(linkedid)': linkedid },
  });
  hangupSessions.push(hangup);
  return linkedid;
}

export async function runCallFlowBench(opts: { quick?: boolean; book?: GoalBook } = {}): Promise<string> {
  const lines: string[] = [];
  // 1. Popup latency and requests per call, RetailCRM answering at once.
  {
    const env = await startBenchEnv({ telephonyEvents: true });
    try {
      const port = env.service.agiPort;
      for (let i = 0; i < 300; i++) env.crm.addCustomer({ firstName: `C${i}`, phones: [phone(i)], managerId: 7 });
      lines.push(`Each call: /incoming, ${RING_MS} ms of ringing, /hangup (answered). Popup latency = AGI connect → call/event received.`);
      lines.push('');
      lines.push('| concurrent calls | calls | popups received | popup p50 ms | popup p99 ms | CRM requests per call |');
      lines.push('|---:|---:|---:|---:|---:|---:|');
      const plan: [number, number][] = opts.quick ? [[1, 50], [10, 150], [50, 300]] : [[1, 200], [10, 600], [50, 2_000]];
      for (const [concurrency, total] of plan) {
        env.crm.reset();
        for (let i = 0; i < 300; i++) env.crm.addCustomer({ firstName: `C${i}`, phones: [phone(i)], managerId: 7 });
        env.service.lookup.invalidateAll();
        const starts = new Map<string, number>();
        let n = 0;
        const worker = async (): Promise<void> => {
          while (n < total) {
            const i = n++;
            let at = 0;
            const id = await fullCall(
              port,
              i % 300,
              (t) => {
                at = t;
              },
              RING_MS,
            );
            starts.set(id, at);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, worker));
        await env.service.drainBackground();
        await waitFor(() => env.crm.account().calls.size >= total, 60_000);
        const latencies: number[] = [];
        for (const r of env.crm.requests({ path: '/api/v5/telephony/call/event' })) {
          const ev = (r.form as Record<string, unknown>)['event'] as Record<string, unknown> | undefined;
          if (ev?.['type'] !== 'in') continue;
          const start = starts.get(String(ev['callExternalId']));
          if (start !== undefined) latencies.push(r.receivedAtHr - start);
        }
        await waitFor(() => env.crm.requests({ path: '/api/v5/telephony/call/event' }).length >= 2 * latencies.length, 10_000).catch(() => undefined);
        const requests = env.crm.requests().length;
        if (concurrency <= 10 && opts.book) {
          const p50 = percentile(latencies, 50);
          const p99 = percentile(latencies, 99);
          opts.book.record(`popup latency: p50 at ${concurrency} concurrent call(s)`, `${p50.toFixed(1)} ms (${latencies.length}/${total} popups)`, 'under 5 ms', p50 < 5 && latencies.length === total);
          opts.book.record(`popup latency: p99 at ${concurrency} concurrent call(s)`, `${p99.toFixed(1)} ms`, 'under 20 ms', p99 < 20 && latencies.length === total);
        }
        lines.push(
          `| ${concurrency} | ${total} | ${latencies.length} | ${percentile(latencies, 50).toFixed(1)} | ${percentile(latencies, 99).toFixed(1)} | ${(requests / total).toFixed(2)} |`,
        );
      }
    } finally {
      await env.stop();
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
