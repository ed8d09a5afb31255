/**
 * The `crm_leads` table (sql/014_work.sql), and only this module touches it: one row per lead (an order for a
 * caller RetailCRM did not know), at most one per number per period. The unique (enterprise, phone, period_start)
 * makes concurrent calls of one number, on any instance, claim one row.
 */
import type { Queryable as Db } from '../db/pool.js';

export interface Lead {
  readonly id: number;
  readonly enterprise: string;
  readonly phone: string;
  readonly periodStart: Date;
  readonly linkedid: string;
  readonly calledAt: Date;
  /** The order's externalId in RetailCRM: ours, so a retried creation can find the order it may have made. */
  readonly externalId: string;
  readonly crmOrderId: number | null;
  readonly customerId: number | null;
  readonly crmCreatedAt: Date | null;
}

interface Row {
  id: number;
  enterprise: string;
  phone: string;
  period_start: Date;
  linkedid: string;
  called_at: Date;
  external_id: string;
  crm_order_id: number | null;
  customer_id: number | null;
  crm_created_at: Date | null;
}

function fromRow(r: Row): Lead {
  return {
    id: r.id,
    enterprise: r.enterprise,
    phone: r.phone,
    periodStart: r.period_start,
    linkedid: r.linkedid,
    calledAt: r.called_at,
    externalId: r.external_id,
    crmOrderId: r.crm_order_id,
    customerId: r.customer_id,
    crmCreatedAt: r.crm_created_at,
  };
}

/** Start of the fixed window of `periodHours` (counted from the epoch) that `at` falls in. */
export function leadPeriodStart(at: Date, periodHours: number): Date {
  const ms = periodHours * 3_600_000;
  return new Date(Math.floor(at.getTime() / ms) * ms);
}

/** The order's externalId: one per enterprise, number and period. */
export function leadExternalId(enterprise: string, phone: string, periodStart: Date): string {
  return `agi-lead-${enterprise}-${phone.replace(/\D+/g, '')}-${Math.floor(periodStart.getTime() / 1000)}`;
}

/** Claims the number's lead for the period of `calledAt`; resolves with the new row, or null when it was taken. */
export async function claimLead(
  db: Db,
  claim: { enterprise: string; phone: string; linkedid: string; calledAt: Date; periodHours: number },
): Promise<Lead | null> {
  const periodStart = leadPeriodStart(claim.calledAt, claim.periodHours);
  const { rows } = await db.query<Row>(
    `insert into crm_leads (enterprise, phone, period_start, linkedid, called_at, external_id)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (enterprise, phone, period_start) do nothing
     returning *`,
    [claim.enterprise, claim.phone, periodStart, claim.linkedid, claim.calledAt, leadExternalId(claim.enterprise, claim.phone, periodStart)],
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function findLead(db: Db, id: number): Promise<Lead | null> {
  const { rows } = await db.query<Row>('select * from crm_leads where id = $1', [id]);
  return rows[0] ? fromRow(rows[0]) : null;
}

export async function saveLeadOrder(db: Db, id: number, order: { crmOrderId: number; customerId: number | null }): Promise<void> {
  await db.query(
    'update crm_leads set crm_order_id = $2, customer_id = $3, crm_created_at = coalesce(crm_created_at, now()) where id = $1',
    [id, order.crmOrderId, order.customerId],
  );
}

/** For analytics: leads whose call falls in [from, to), and how many of them are orders in RetailCRM. */
export async function leadSummary(db: Db, enterprise: string, from: Date, to: Date): Promise<{ requested: number; created: number }> {
  const { rows } = await db.query<{ requested: number; created: number }>(
    `select count(*)::int as requested, count(crm_order_id)::int as created
     from crm_leads where enterprise = $1 and called_at >= $2 and called_at < $3`,
    [enterprise, from, to],
  );
  return { requested: rows[0]?.requested ?? 0, created: rows[0]?.created ?? 0 };
}
