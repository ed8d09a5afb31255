/**
 * What /ready says about each enterprise, decided in one pure function from what the service knows: RetailCRM
 * answered recently (or at least did not fail last), the PBX's AMI connection is up when one is configured, and
 * the outbox is not stuck (its oldest pending job younger than the threshold). An enterprise's problems make the
 * answer "degraded", never 503: one company's RetailCRM outage must not take the instance out of a load balancer.
 */
import type { AccountReachability } from '../crm/reachability.js';

export interface EnterpriseFacts {
  readonly enterprise: string;
  readonly crm: AccountReachability | undefined;
  /** AMI client state when the enterprise has a PBX configured; undefined otherwise. */
  readonly amiState: string | undefined;
  readonly oldestPendingSeconds: number;
  readonly failedJobs: number;
}

export interface EnterpriseReadiness {
  readonly ok: boolean;
  readonly reasons: readonly string[];
}

export interface ReadinessThresholds {
  /** RetailCRM failing with no success for this long is reported. */
  readonly crmDownAfterMs: number;
  /** An outbox whose oldest pending job is older than this is stuck. */
  readonly outboxStuckAfterSeconds: number;
}

export const DEFAULT_THRESHOLDS: ReadinessThresholds = Object.freeze({ crmDownAfterMs: 120_000, outboxStuckAfterSeconds: 900 });

export function enterpriseReadiness(f: EnterpriseFacts, now: number, t: ReadinessThresholds = DEFAULT_THRESHOLDS): EnterpriseReadiness {
  const reasons: string[] = [];
  const crm = f.crm;
  if (crm?.lastFailure && crm.lastFailureAt !== null && (crm.lastOkAt === null || crm.lastOkAt < crm.lastFailureAt)) {
    const since = crm.lastOkAt ?? crm.lastFailureAt;
    if (crm.lastFailure === 'auth') reasons.push('RetailCRM refuses the API key (401/403): enterprise check');
    else if (now - since >= t.crmDownAfterMs || crm.lastOkAt === null) {
      reasons.push(`RetailCRM unreachable since ${new Date(since).toISOString()}`);
    }
  }
  if (f.amiState !== undefined && f.amiState !== 'connected') reasons.push(`AMI not connected (${f.amiState})`);
  if (f.oldestPendingSeconds > t.outboxStuckAfterSeconds) {
    reasons.push(`outbox stuck: oldest pending job waits ${Math.round(f.oldestPendingSeconds)} s`);
  }
  return { ok: reasons.length === 0, reasons };
}
