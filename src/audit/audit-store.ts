/**
 * `audit_log` (sql/009): appends administrative changes as hash-chained rows, lists them, verifies the chain.
 * Appends are serialised by a transaction-scoped advisory lock, so two writers (two CLI runs, the service) never
 * fork the chain. The table's trigger refuses UPDATE, DELETE and TRUNCATE.
 */
import { inTransaction, type Pool } from '../db/pool.js';
import { auditContent, rowHash, verifyChain, type AuditContent, type ChainBreak, type ChainedRow } from './audit-chain.js';

export interface AuditEntry {
  readonly source: 'cli' | 'http';
  readonly actor: string;
  readonly action: string;
  readonly enterprise: string | null;
  /** Plain JSON; secrets already replaced by fingerprints (./audit-snapshots.ts). */
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface AuditRecord extends ChainedRow {
  readonly atDate: Date;
}

interface Row {
  id: number;
  at: Date;
  source: 'cli' | 'http';
  actor: string;
  action: string;
  enterprise: string | null;
  before: unknown;
  after: unknown;
  prev_hash: string;
  hash: string;
}

const APPEND_LOCK = 'rcrm-audit-log-append';
const PAGE = 1_000;

function fromRow(r: Row): AuditRecord {
  return {
    id: r.id,
    at: r.at.toISOString(),
    atDate: r.at,
    source: r.source,
    actor: r.actor,
    action: r.action,
    enterprise: r.enterprise,
    before: r.before,
    after: r.after,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export type VerifyResult =
  | { readonly ok: true; readonly count: number; readonly lastId: number | null; readonly lastHash: string }
  | { readonly ok: false; readonly broken: ChainBreak; readonly checked: number };

export class AuditLog {
  constructor(
    private readonly pool: Pool,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async append(entry: AuditEntry): Promise<AuditRecord> {
    return inTransaction(this.pool, async (client) => {
      await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [APPEND_LOCK]);
      const last = await client.query<{ hash: string }>('select hash from audit_log order by id desc limit 1');
      const prevHash = last.rows[0]?.hash ?? '';
      // Millisecond precision: what a Date read back from timestamptz gives, so the hash recomputes exactly.
      const content: AuditContent = auditContent({ ...entry, at: this.now().toISOString() });
      const { rows } = await client.query<Row>(
        `insert into audit_log (at, source, actor, action, enterprise, before, after, prev_hash, hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *`,
        [
          content.at, content.source, content.actor, content.action, content.enterprise,
          JSON.stringify(content.before), JSON.stringify(content.after), prevHash, rowHash(prevHash, content),
        ],
      );
      return fromRow(rows[0] as Row);
    });
  }

  async list(filter: { enterprise?: string; since?: Date; limit?: number } = {}): Promise<AuditRecord[]> {
    const { rows } = await this.pool.query<Row>(
      `select * from audit_log
       where ($1::text is null or enterprise = $1) and ($2::timestamptz is null or at >= $2)
       order by id desc limit $3`,
      [filter.enterprise ?? null, filter.since ?? null, filter.limit ?? 100],
    );
    return rows.map(fromRow).reverse();
  }

  /** Re-computes every row's hash and link in id order; names the first broken row. */
  async verify(): Promise<VerifyResult> {
    let prevHash = '';
    let afterId = 0;
    let checked = 0;
    let lastId: number | null = null;
    for (;;) {
      const { rows } = await this.pool.query<Row>('select * from audit_log where id > $1 order by id limit $2', [afterId, PAGE]);
      if (rows.length === 0) break;
      const page = rows.map(fromRow);
      const result = verifyChain(page, prevHash);
      if (!result.ok) return { ok: false, broken: result.broken, checked: checked + page.findIndex((r) => r.id === result.broken.id) };
      checked += result.count;
      prevHash = result.lastHash;
      lastId = page[page.length - 1]?.id ?? lastId;
      afterId = lastId ?? afterId;
    }
    return { ok: true, count: checked, lastId, lastHash: prevHash };
  }
}
