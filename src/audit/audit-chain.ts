/**
 * The audit log's hash chain, pure: a canonical JSON of a row's content (keys sorted at every depth, since jsonb
 * does not keep key order), and `hash = sha256(prev_hash + "\n" + canonical content)`. `verifyChain` walks rows
 * in id order and names the first whose link or content does not match.
 */
import { createHash } from 'node:crypto';

export interface AuditContent {
  readonly at: string;
  readonly source: 'cli' | 'http';
  readonly actor: string;
  readonly action: string;
  readonly enterprise: string | null;
  readonly before: unknown;
  readonly after: unknown;
}

export interface ChainedRow extends AuditContent {
  readonly id: number;
  readonly prevHash: string;
  readonly hash: string;
}

export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** Exactly the fields the hash covers (a row's id and hashes are not content), absent before/after as null. */
export function auditContent(row: Omit<AuditContent, 'before' | 'after'> & { readonly before?: unknown; readonly after?: unknown }): AuditContent {
  return {
    at: row.at,
    source: row.source,
    actor: row.actor,
    action: row.action,
    enterprise: row.enterprise,
    before: row.before ?? null,
    after: row.after ?? null,
  };
}

export function rowHash(prevHash: string, content: AuditContent): string {
  return createHash('sha256').update(`${prevHash}\n${canonicalJson(auditContent(content))}`).digest('hex');
}

export type ChainBreak = { readonly id: number; readonly problem: 'edited' | 'link' };

/** Walks rows (ascending id) from `prevHash`; returns the first break, or the last hash when intact. */
export function verifyChain(
  rows: Iterable<ChainedRow>,
  prevHash = '',
): { readonly ok: true; readonly lastHash: string; readonly count: number } | { readonly ok: false; readonly broken: ChainBreak } {
  let prev = prevHash;
  let count = 0;
  for (const row of rows) {
    if (row.prevHash !== prev) return { ok: false, broken: { id: row.id, problem: 'link' } };
    if (rowHash(row.prevHash, row) !== row.hash) return { ok: false, broken: { id: row.id, problem: 'edited' } };
    prev = row.hash;
    count++;
  }
  return { ok: true, lastHash: prev, count };
}
