/**
 * Issue 11's popup breakdown: the stages between "the call is routed" and "RetailCRM has the popup", each timed
 * alone, one call at a time, on the local PostgreSQL and the fake RetailCRM (medians and p99 of N calls):
 *   before: commit (call row + popup job) → claim (its own transaction) → HTTP send (got) → mark done
 *   now:    commit (call row + popup job inserted already claimed) → HTTP send (undici) → mark done
 * The end-to-end figure (AGI connect → popup received, with the service's other work beside it) is the full-calls
 * benchmark's.
 */
import { adminQuery } from './bench-env.js';
import { randomBytes } from 'node:crypto';
import got from 'got';
import { CallJournal, type CallStart } from '../src/calls/call-journal.js';
import { RetailCrmClient } from '../src/crm/client.js';
import { encodeForm } from '../src/crm/form-encoding.js';
import { RateLimiter } from '../src/crm/rate-limiter.js';
import type { CallEvent, CrmAccount } from '../src/crm/types.js';
import { EnterpriseStore } from '../src/db/enterprise-store.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { inClaimTransaction, OutcomeWriter, type ClaimedBatch } from '../src/outbox/outbox-store.js';
import { createSecretBox } from '../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../test/fakes/fake-retailcrm.js';
import { percentile } from './agi-client.js';

const SCOPE = { kinds: ['call_event'], serialKinds: [], lockTimeoutMs: 60_000, maxAttempts: 10 };

export async function runPopupStages(opts: { quick?: boolean } = {}): Promise<string> {
  const calls = opts.quick ? 100 : 400;
  const adminUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `rcrm_bench_${randomBytes(4).toString('hex')}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await adminQuery(adminUrl, `create database ${name}`);
  const pool = createPool({ connectionString: url.toString(), max: 4 });
  const crm = await FakeRetailCrm.start();
  const client = new RetailCrmClient({ limiter: new RateLimiter({ ratesPerSecond: { telephony: 1e6, general: 1e6 } }), defaultTimeoutMs: 5_000 });
  const gotClient = got.extend({ retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false, responseType: 'text' });
  const account: CrmAccount = { key: '0367', url: crm.url, apiKey: crm.apiKey } as CrmAccount;
  const stages: Record<string, number[]> = {};
  const time = async <T>(stage: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const result = await f();
    (stages[stage] ??= []).push(performance.now() - t);
    return result;
  };
  try {
    await migrate(pool);
    await new EnterpriseStore(pool, createSecretBox('bench'.repeat(8))).create({
      number: '0367', crmUrl: crm.url, apiKey: crm.apiKey, clientId: 'bench-client-id-0123456789', country: 'BY', site: null, settings: {},
    });
    const journal = new CallJournal(pool);
    let seq = 0;
    const nextCall = (): { start: CallStart; popup: CallEvent } => {
      const linkedid = `1795700000.${++seq}`;
      const phone = `+37529${String(3_000_000 + seq).padStart(7, '0')}`;
      return {
        start: { enterprise: '0367', linkedid, direction: 'in', phone, externalPhone: null, site: null, customerId: 42, ringCodes: ['101'], startedAt: new Date() },
        popup: { phone, type: 'in', codes: ['101'], callExternalId: linkedid },
      };
    };
    for (let i = 0; i < calls + 50; i++) {
      const warm = i < 50;
      const stage = (s: string): string => (warm ? `warm ${s}` : s);
      // Before: the job committed unclaimed, claimed in a transaction of its own, sent with got.
      {
        const { start, popup } = nextCall();
        const id = await time(stage('before: commit'), () => journal.recordStart(start, popup));
        if (id === null) throw new Error('no popup job');
        const claimed = await time(stage('before: claim'), () => inClaimTransaction(pool, SCOPE, async (tx) => {
          await tx.failAbandoned();
          if (!(await tx.pendingHead(id))) return null;
          return tx.claimOne(id, false, `bench#${seq}`);
        }));
        const batch = claimed.result;
        if (!batch) throw new Error('claim failed');
        await time(stage('before: HTTP send (got)'), () => gotClient.post(`${crm.url}/api/v5/telephony/call/event`, {
          headers: { 'x-api-key': crm.apiKey, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
          body: encodeForm({ event: popup }),
        }));
        await time(stage('before: mark done'), () => new OutcomeWriter(pool, batch.token).done([id]));
      }
      // Now: the job inserted already claimed with the call row, sent with undici.
      {
        const { start, popup } = nextCall();
        const token = `bench#now${seq}`;
        const batch: ClaimedBatch | null = await time(stage('now: commit (job inserted claimed)'), () => journal.recordStartClaimed(start, popup, token));
        if (!batch) throw new Error('no popup job');
        await time(stage('now: HTTP send (undici)'), () => client.callEvent(account, popup));
        await time(stage('now: mark done'), () => new OutcomeWriter(pool, token).done(batch.jobs.map((j) => j.id)));
      }
    }
  } finally {
    client.close();
    await crm.close();
    await pool.end();
    await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
  }
  const lines = [
    `${calls} calls, one at a time; ms per stage. "Until sent" = commit + claim + HTTP (the popup's path to RetailCRM); "mark done" comes after it.`,
    '',
    '| stage | p50 ms | p99 ms |',
    '|---|---:|---:|',
  ];
  const measured = Object.entries(stages).filter(([s]) => !s.startsWith('warm'));
  for (const [stage, xs] of measured) lines.push(`| ${stage} | ${percentile(xs, 50).toFixed(2)} | ${percentile(xs, 99).toFixed(2)} |`);
  const sum = (keys: string[]): number[] => (stages[keys[0] ?? ''] ?? []).map((_, i) => keys.reduce((a, k) => a + (stages[k]?.[i] ?? 0), 0));
  const before = sum(['before: commit', 'before: claim', 'before: HTTP send (got)']);
  const now = sum(['now: commit (job inserted claimed)', 'now: HTTP send (undici)']);
  lines.push(`| **before: until sent** | ${percentile(before, 50).toFixed(2)} | ${percentile(before, 99).toFixed(2)} |`);
  lines.push(`| **now: until sent** | ${percentile(now, 50).toFixed(2)} | ${percentile(now, 99).toFixed(2)} |`);
  return lines.join('\n');
}
