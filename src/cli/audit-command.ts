/** `retailcrm-agi audit list|verify`: the log of administrative changes and the check of its hash chain. */
import { AuditLog } from '../audit/audit-store.js';
import { AuditChainBrokenError, InputError } from '../lib/errors.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';

export const AUDIT_USAGE = `  audit list [--enterprise N] [--since YYYY-MM-DD|ISO time] [--limit 100] [--json]
                                          administrative changes (CLI and HTTP), oldest first
  audit verify                            check the hash chain: exit 0 if intact, 1 naming the first broken row`;

function since(value: string): Date {
  const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime())) throw new InputError('--since must be a date (2026-12-01) or an ISO time', 'since');
  return d;
}

function brief(value: unknown): string {
  return value === null || value === undefined ? '-' : JSON.stringify(value);
}

export async function auditCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  const log = new AuditLog(ctx.pool);
  switch (sub) {
    case 'list': {
      const flags = a.parseFlags(argv, {
        enterprise: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' },
      });
      const enterprise = a.str(flags, 'enterprise');
      const sinceFlag = a.str(flags, 'since');
      const rows = await log.list({
        ...(enterprise !== undefined ? { enterprise: a.enterpriseNumber(enterprise) } : {}),
        ...(sinceFlag !== undefined ? { since: since(sinceFlag) } : {}),
        limit: Math.min(a.positiveInt(a.str(flags, 'limit') ?? '100', 'limit'), 10_000),
      });
      if (flags['json'] === true) {
        ctx.io.out(JSON.stringify(rows.map(({ atDate: _d, ...r }) => r), null, 2));
        return;
      }
      if (rows.length === 0) ctx.io.out('no audit entries');
      for (const r of rows) {
        ctx.io.out(`#${r.id}\t${r.at}\t${r.source}\t${r.actor}\t${r.action}\t${r.enterprise ?? '-'}`);
        ctx.io.out(`\tbefore: ${brief(r.before)}`);
        ctx.io.out(`\tafter:  ${brief(r.after)}`);
      }
      return;
    }
    case 'verify': {
      a.parseFlags(argv, {});
      const result = await log.verify();
      if (!result.ok) {
        const what = result.broken.problem === 'edited'
          ? 'its content does not match its hash (edited)'
          : 'it does not link to the row before it (a row was deleted or edited before it)';
        throw new AuditChainBrokenError(result.broken.id, `${what}; ${result.checked} rows before it are intact`);
      }
      ctx.io.out(`audit log intact: ${result.count} rows${result.lastId !== null ? `; last row #${result.lastId} hash ${result.lastHash}` : ''}`);
      return;
    }
    default:
      throw new InputError(`usage:\n${AUDIT_USAGE}`);
  }
}
