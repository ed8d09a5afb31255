/** `retailcrm-agi report --enterprise N --from YYYY-MM-DD --to YYYY-MM-DD [--json]`: the dashboard's figures as text. */
import { checkOptions, checkPeriodDays } from '../analytics/analytics-queries.js';
import { createAnalyticsQueries } from '../analytics/analytics-store.js';
import { buildReport, formatReport } from '../analytics/report.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';

const FLAGS = {
  enterprise: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'callback-minutes': { type: 'string' },
  'conversion-days': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const REPORT_USAGE = `  report --enterprise N --from YYYY-MM-DD --to YYYY-MM-DD [--callback-minutes 30] [--conversion-days 7] [--json]
                                          call analytics of a period [from, to) in the enterprise's timezone`;

/** Statement deadline of each report query: a CLI may wait longer than a page. */
const REPORT_TIMEOUT_MS = 120_000;

export async function reportCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, FLAGS);
  const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
  const from = a.required(flags, 'from');
  const to = a.required(flags, 'to');
  checkPeriodDays(from, to);
  const cb = a.str(flags, 'callback-minutes');
  const cd = a.str(flags, 'conversion-days');
  const enterprise = await ctx.enterprises.get(number);
  const options = checkOptions({
    callbackMinutes: cb === undefined ? undefined : a.positiveInt(cb, 'callback-minutes'),
    conversionDays: cd === undefined ? undefined : a.positiveInt(cd, 'conversion-days'),
    saleStatuses: enterprise.settings.saleStatuses,
  });
  const queries = createAnalyticsQueries(ctx.pool, { timeoutMs: REPORT_TIMEOUT_MS });
  const report = await buildReport(queries, { enterprise: number, from, to, timezone: enterprise.settings.crmTimezone }, options, enterprise.crmUrl);
  ctx.io.out(flags['json'] === true ? JSON.stringify(report, null, 2) : formatReport(report));
}
