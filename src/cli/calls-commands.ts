/**
 * `retailcrm-agi calls reconcile --enterprise N --since 2h|<ISO date>`: one reconciler pass by hand (the service
 * runs one every RECONCILE_INTERVAL_MS). Prints one line per call it found missing from the journal and a summary;
 * the calls go to RetailCRM through the outbox of the running service.
 */
import { CallJournal } from '../calls/call-journal.js';
import { EnterpriseDirectory } from '../calls/enterprise-directory.js';
import { CustomerStore } from '../db/customer-store.js';
import { EnterpriseUnknownError, InputError, ReconcileLockedError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { Reconciler, type ReconciledCall } from '../reconcile/reconciler.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';

export const CALLS_USAGE = `  calls reconcile --enterprise N --since 2h|30m|1d|2026-12-06T10:00:00Z
                                          record calls Asterisk's CDRs show and the journal lacks (docs/reconcile.md)`;

const FLAGS = { enterprise: { type: 'string' }, since: { type: 'string' } } as const;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a duration back from now (`90m`, `2h`, `1d`) or an ISO date; epoch ms. */
export function parseSince(value: string, now: number): number {
  const v = value.trim();
  const duration = /^(\d+)([smhd])$/.exec(v);
  const at = duration ? now - Number(duration[1]) * (UNIT_MS[duration[2] as string] ?? 0) : /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(at)) throw new InputError('--since takes a duration (30m, 2h, 1d) or an ISO date (2026-12-06T10:00:00Z)', 'since');
  if (at > now) throw new InputError('--since is in the future', 'since');
  return at;
}

export function formatReconciledCall(c: ReconciledCall): string {
  if (c.outcome === 'empty') return `-\t${c.linkedid}\tno usable CDR`;
  if (c.outcome === 'failed') return `-\t${c.linkedid}\tnot recorded: see the log; tried again by the next pass`;
  return [
    c.startedAt?.toISOString() ?? '-',
    c.linkedid,
    c.direction,
    c.phone,
    c.result,
    c.manager ?? '-',
    `talk ${c.durationSec ?? 0}s`,
    `waiting ${c.waitingSec ?? 0}s`,
    c.recording ? 'recording' : 'no recording',
    c.outcome === 'recorded' ? 'recorded' : 'already recorded',
  ].join('\t');
}

export async function callsCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  if (sub !== 'reconcile') throw new InputError(`unknown calls command ${JSON.stringify(sub ?? '')}\n${CALLS_USAGE}`);
  const flags = a.parseFlags(argv, FLAGS);
  const enterprise = a.enterpriseNumber(a.required(flags, 'enterprise'));
  const since = parseSince(a.required(flags, 'since'), Date.now());
  const reconciler = new Reconciler({
    pool: ctx.pool,
    enterprises: ctx.enterprises,
    directory: new EnterpriseDirectory(ctx.enterprises, ctx.extensions),
    journal: new CallJournal(ctx.pool),
    customers: new CustomerStore(ctx.pool),
    recordingsDir: ctx.config.recordingsDir,
    logger: createLogger({ level: 'warn' }),
    intervalMs: 0,
    windowMs: ctx.config.reconcile.windowMs,
    graceMs: ctx.config.reconcile.graceMs,
  });
  const pass = await reconciler.reconcileEnterprise(enterprise, reconciler.window(since));
  if (!pass.reconciled) {
    throw pass.reason === 'unknown-enterprise' ? new EnterpriseUnknownError(enterprise) : new ReconcileLockedError(enterprise);
  }
  for (const c of pass.calls) ctx.io.out(formatReconciledCall(c));
  const count = (outcome: ReconciledCall['outcome']): number => pass.calls.filter((c) => c.outcome === outcome).length;
  const window = `${new Date(since).toISOString()} .. ${ctx.config.reconcile.graceMs / 1000}s ago`;
  const failed = count('failed') + count('empty');
  ctx.io.out(
    pass.calls.length === 0
      ? `no call missing from the journal (CDRs ended ${window})`
      : `${pass.calls.length} call(s) missing from the journal (CDRs ended ${window}): ${count('recorded')} recorded, ` +
          `${count('already')} already recorded meanwhile${failed > 0 ? `, ${failed} not recorded` : ''}`,
  );
}
