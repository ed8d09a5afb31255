/**
 * A small, hand-computed set of calls and orders for the analytics tests (docs in
 * test/integration/analytics-queries.test.ts list every expected figure). Enterprise `acme`, Europe/Minsk (UTC+3,
 * no DST), period 2025-03-10 .. 2025-03-12 (local days).
 */
import type { Pool } from '../../src/db/pool.js';
import { ensureOrdersTable } from '../../bench/generate-calls.js';

export const FIXTURE = Object.freeze({
  enterprise: 'acme',
  timezone: 'Europe/Minsk',
  from: '2025-03-10',
  to: '2025-03-12',
  crmUrl: 'https://acme.retailcrm.ru',
  waitingPhone: '+375295555555',
  waitingName: 'Ivanov, "Vanya"\nthe 2nd',
  /** RetailCRM task of the waiting phone's open call-back row. */
  waitingTaskId: 7001,
  /** RetailCRM users of extensions 101 and 102 (103's user has no stored name). */
  names: { 11: 'Anna Smirnova', 12: 'Oleg <b>Petrov</b>' } as Readonly<Record<number, string>>,
});

interface FixtureCall {
  readonly id: string;
  readonly dir: 'in' | 'out';
  readonly phone: string;
  readonly start: string;
  readonly answered: boolean;
  readonly wait: number;
  readonly talk: number;
  readonly ext: string;
  readonly customerId?: number;
  readonly enterprise?: string;
}

const P = (n: number): string => `+3752900000${String(n).padStart(2, '0')}`;

export const FIXTURE_CALLS: readonly FixtureCall[] = [
  { id: 'A', dir: 'in', phone: P(1), start: '2025-03-09T21:30:00Z', answered: true, wait: 10, talk: 100, ext: '101' },
  { id: 'B', dir: 'in', phone: P(2), start: '2025-03-09T20:59:00Z', answered: true, wait: 5, talk: 5, ext: '101' },
  { id: 'C', dir: 'in', phone: P(3), start: '2025-03-10T06:00:00Z', answered: false, wait: 60, talk: 0, ext: '102' },
  { id: 'D', dir: 'out', phone: P(3), start: '2025-03-10T06:31:00Z', answered: true, wait: 5, talk: 50, ext: '102' },
  { id: 'E', dir: 'in', phone: P(4), start: '2025-03-10T07:00:00Z', answered: false, wait: 60, talk: 0, ext: '101' },
  { id: 'F', dir: 'out', phone: P(4), start: '2025-03-10T07:31:01Z', answered: true, wait: 3, talk: 20, ext: '101' },
  { id: 'G', dir: 'in', phone: FIXTURE.waitingPhone, start: '2025-03-11T20:30:00Z', answered: false, wait: 60, talk: 0, ext: '103' },
  { id: 'H', dir: 'out', phone: FIXTURE.waitingPhone, start: '2025-03-11T20:40:00Z', answered: false, wait: 20, talk: 0, ext: '103' },
  { id: 'I', dir: 'in', phone: P(6), start: '2025-03-11T21:10:00Z', answered: false, wait: 60, talk: 0, ext: '101' },
  ...Array.from({ length: 9 }, (_, k): FixtureCall => ({
    id: `J${k}`, dir: 'in', phone: P(7 + k), start: new Date(Date.UTC(2025, 2, 10, 10, k * 10)).toISOString(),
    answered: true, wait: 20 + k * 10, talk: 100, ext: '101', ...(k === 1 ? { customerId: 901 } : {}),
  })),
  { id: 'X', dir: 'in', phone: P(1), start: '2025-03-10T12:00:00Z', answered: false, wait: 60, talk: 0, ext: '101', enterprise: 'other' },
];

export async function seedAnalyticsFixture(pool: Pool): Promise<void> {
  await ensureOrdersTable(pool);
  for (const e of [FIXTURE.enterprise, 'other']) {
    await pool.query(
      `insert into enterprises (number, crm_url, api_key_enc, client_id_enc, client_id_hash, settings)
       values ($1, $2, 'v1:x', 'v1:x', $1, $3) on conflict do nothing`,
      [e, FIXTURE.crmUrl, JSON.stringify({ crmTimezone: FIXTURE.timezone })],
    );
  }
  await pool.query(`insert into extensions (enterprise, ext, user_id) values ('acme', '101', 11), ('acme', '102', 12), ('acme', '103', 13)`);
  await pool.query(
    `insert into retailcrm_customers (enterprise, phone, customer_id, customer_name) values ('acme', $1, 900, 'Petrov'), ('acme', $2, 950, $3)`,
    [P(7), FIXTURE.waitingPhone, FIXTURE.waitingName],
  );
  for (const c of FIXTURE_CALLS) {
    await pool.query(
      `insert into calls (enterprise, linkedid, external_id, direction, phone, started_at, ended_at, answered, result,
                          manager_code, duration_sec, waiting_sec, customer_id, ring_codes)
       values ($1, $2, $2, $3, $4, $5::timestamptz, $5::timestamptz + make_interval(secs => $6::int + $7::int), $8,
               case when $8 then 'answered' else 'no answer' end, $9, $7, $6, $10, array[$9])`,
      [c.enterprise ?? FIXTURE.enterprise, c.id, c.dir, c.phone, c.start, c.wait, c.talk, c.answered, c.ext, c.customerId ?? null],
    );
  }
  const j = (k: number): string => new Date(Date.UTC(2025, 2, 10, 10, k * 10)).toISOString();
  // Statuses: 3 is a sale under the default `complete`; 1 only when `paid` counts too; 2 and 4 convert to no sale.
  await pool.query(
    `insert into retailcrm_orders (enterprise, order_id, customer_id, phone, created_at, status) values
       ('acme', 1, null, $1, '2025-03-16T21:29:59Z', 'paid'),
       ('acme', 2, 900, null, $2::timestamptz + interval '7 days', 'complete'),
       ('acme', 3, 901, null, $3::timestamptz + interval '1 hour', 'complete'),
       ('acme', 4, null, $4, $5::timestamptz - interval '1 minute', 'complete')`,
    [P(1), j(0), j(1), P(9), j(2)],
  );
  await pool.query(
    `insert into crm_users (enterprise, user_id, first_name, last_name) values
       ('acme', 11, 'Anna', 'Smirnova'), ('acme', 12, 'Oleg', '<b>Petrov</b>'), ('other', 11, 'Not', 'Ours')`,
  );
  // Call-back rows (sql/014) as src/work/ leaves them: the waiting phone's is open with its task; C and E were reached.
  await pool.query(
    `insert into callback_tasks (enterprise, phone, state, crm_task_id, first_missed_at, last_missed_at, missed_count,
                                 first_missed_call, completed_at)
     values ('acme', $1, 'open', $4, '2025-03-11T20:30:00Z', '2025-03-11T20:30:00Z', 1, 'G', null),
            ('acme', $2, 'completed', 7002, '2025-03-10T06:00:00Z', '2025-03-10T06:00:00Z', 1, 'C', '2025-03-10T06:31:00Z'),
            ('acme', $3, 'completed', null, '2025-03-10T07:00:00Z', '2025-03-10T07:00:00Z', 1, 'E', '2025-03-10T07:31:01Z'),
            ('acme', $5, 'open', null, '2025-03-11T21:10:00Z', '2025-03-11T21:10:00Z', 1, 'I', null)`,
    [FIXTURE.waitingPhone, P(3), P(4), FIXTURE.waitingTaskId, P(6)],
  );
  // Leads (sql/014): two in the period (one an order in RetailCRM), one after it.
  await pool.query(
    `insert into crm_leads (enterprise, phone, period_start, linkedid, called_at, external_id, crm_order_id)
     values ('acme', $1, '2025-03-10T00:00:00Z', 'J1', $3, 'agi-lead-1', 3),
            ('acme', $2, '2025-03-10T00:00:00Z', 'J3', $4, 'agi-lead-2', null),
            ('acme', $5, '2025-03-11T00:00:00Z', 'I', '2025-03-11T21:10:00Z', 'agi-lead-3', 8)`,
    [P(8), P(10), j(1), j(3), P(6)],
  );
}
