/** `click_to_call_audit`: one row per click-to-call request (who, which number, when) and what became of it. */
import type { Pool } from '../db/pool.js';

export type ClickToCallOutcome =
  | 'requested'
  | 'started'
  | 'answered'
  | 'no_answer'
  | 'busy'
  | 'failed'
  | 'pbx_unreachable'
  | 'pbx_auth_failed'
  | 'pbx_timeout'
  | 'not_configured';

export interface AuditRow {
  readonly id: number;
  readonly enterprise: string;
  readonly userId: number | null;
  readonly ext: string;
  readonly phone: string;
  readonly requestedAt: Date;
  readonly outcome: ClickToCallOutcome;
  readonly reason: string | null;
  readonly crmCallId: string | null;
  readonly linkedid: string | null;
  readonly finishedAt: Date | null;
}

interface Row {
  id: string;
  enterprise: string;
  user_id: number | null;
  ext: string;
  phone: string;
  requested_at: Date;
  outcome: ClickToCallOutcome;
  reason: string | null;
  crm_call_id: string | null;
  linkedid: string | null;
  finished_at: Date | null;
}

function fromRow(r: Row): AuditRow {
  return {
    id: Number(r.id),
    enterprise: r.enterprise,
    userId: r.user_id,
    ext: r.ext,
    phone: r.phone,
    requestedAt: r.requested_at,
    outcome: r.outcome,
    reason: r.reason,
    crmCallId: r.crm_call_id,
    linkedid: r.linkedid,
    finishedAt: r.finished_at,
  };
}

/** The CRM_CALL_ID channel variable of an audit row. */
export function crmCallIdOf(id: number): string {
  return `c2c-${id}`;
}

export class ClickToCallAudit {
  constructor(private readonly pool: Pool) {}

  async open(entry: { enterprise: string; userId: number | null; ext: string; phone: string }): Promise<AuditRow> {
    const { rows } = await this.pool.query<Row>(
      `insert into click_to_call_audit (enterprise, user_id, ext, phone) values ($1, $2, $3, $4)
       returning *`,
      [entry.enterprise, entry.userId, entry.ext, entry.phone],
    );
    const row = rows[0];
    if (!row) throw new Error('click_to_call_audit insert returned no row');
    const id = Number(row.id);
    await this.pool.query('update click_to_call_audit set crm_call_id = $2 where id = $1', [id, crmCallIdOf(id)]);
    return { ...fromRow(row), crmCallId: crmCallIdOf(id) };
  }

  /** Records an outcome; a final one also stamps finished_at. `started` never overwrites a final outcome. */
  async record(id: number, outcome: ClickToCallOutcome, details: { reason?: string; linkedid?: string } = {}): Promise<void> {
    const final = outcome !== 'requested' && outcome !== 'started';
    await this.pool.query(
      `update click_to_call_audit set outcome = $2, reason = coalesce($3, reason), linkedid = coalesce($4, linkedid),
         finished_at = case when $5 then now() else finished_at end
       where id = $1 and (finished_at is null)`,
      [id, outcome, details.reason ?? null, details.linkedid ?? null, final],
    );
  }

  async get(id: number): Promise<AuditRow | null> {
    const { rows } = await this.pool.query<Row>('select * from click_to_call_audit where id = $1', [id]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async recent(enterprise: string, limit = 50): Promise<AuditRow[]> {
    const { rows } = await this.pool.query<Row>(
      'select * from click_to_call_audit where enterprise = $1 order by id desc limit $2',
      [enterprise, Math.min(Math.max(1, limit), 1000)],
    );
    return rows.map(fromRow);
  }
}
