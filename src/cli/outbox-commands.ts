/** `retailcrm-agi outbox list|retry|stats`: seeing and un-sticking RetailCRM writes that did not go through. */
import { InputError } from '../lib/errors.js';
import { jobStats, listJobs, requeueJobs } from '../outbox/outbox-admin-store.js';
import { notifyOutbox } from '../outbox/outbox-store.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';

export const OUTBOX_USAGE = `  outbox list [--failed] [--enterprise N] [--limit 50]
  outbox retry --id N | --failed [--enterprise N]
  outbox stats`;

const FLAGS = {
  failed: { type: 'boolean' },
  enterprise: { type: 'string' },
  limit: { type: 'string' },
  id: { type: 'string' },
} as const;

function oneLine(text: string | null): string {
  return text === null ? '-' : text.replace(/\s+/g, ' ').slice(0, 200);
}

export async function outboxCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, FLAGS);
  const enterpriseFlag = a.str(flags, 'enterprise');
  const enterprise = enterpriseFlag === undefined ? null : a.enterpriseNumber(enterpriseFlag);
  switch (sub) {
    case 'list': {
      const limitFlag = a.str(flags, 'limit');
      const limit = limitFlag === undefined ? 50 : Math.min(a.positiveInt(limitFlag, 'limit'), 10_000);
      const rows = await listJobs(ctx.pool, { enterprise, failedOnly: flags['failed'] === true, limit });
      if (rows.length === 0) ctx.io.out(flags['failed'] === true ? 'no failed jobs' : 'no pending or failed jobs');
      else ctx.io.out('id\tenterprise\tkind\tstate\tattempts\trun_at\tlast_error');
      for (const r of rows) {
        ctx.io.out(
          `${r.id}\t${r.enterprise}\t${r.kind}\t${r.state}\t${r.attempts}\t${r.run_at.toISOString()}\t${oneLine(r.last_error)}`,
        );
      }
      return;
    }
    case 'retry': {
      const idFlag = a.str(flags, 'id');
      if ((idFlag === undefined) === (flags['failed'] !== true)) {
        throw new InputError('outbox retry takes --id N or --failed [--enterprise N]');
      }
      // Back to pending with attempts reset; last_error stays as a record of what went wrong.
      const rows = await requeueJobs(ctx.pool, idFlag !== undefined ? { id: a.positiveInt(idFlag, 'id') } : { enterprise });
      if (idFlag !== undefined && rows.length === 0) {
        throw new InputError(`job ${idFlag} does not exist or is not failed or dropped`, 'id');
      }
      for (const e of new Set(rows.map((r) => r.enterprise))) {
        await notifyOutbox(ctx.pool, e);
        const ids = rows.filter((r) => r.enterprise === e).map((r) => r.id);
        await ctx.recordChange({ action: 'outbox.retry', enterprise: e, before: { state: 'failed', jobs: ids }, after: { state: 'pending', jobs: ids } });
      }
      ctx.io.out(`${rows.length} job(s) queued again`);
      return;
    }
    case 'stats': {
      const rows = await jobStats(ctx.pool, enterprise);
      if (rows.length === 0) ctx.io.out('the outbox is empty');
      else ctx.io.out('enterprise\tkind\tstate\tjobs\toldest_pending_run_at');
      for (const r of rows) {
        ctx.io.out(`${r.enterprise}\t${r.kind}\t${r.state}\t${r.n}\t${r.oldest ? r.oldest.toISOString() : '-'}`);
      }
      return;
    }
    default:
      throw new InputError(`unknown outbox command ${JSON.stringify(sub ?? '')}\n${OUTBOX_USAGE}`);
  }
}
