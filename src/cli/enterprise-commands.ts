/** `retailcrm-agi enterprise add|set|list|show|remove`: managing the client companies this service serves. */
import { InputError } from '../lib/errors.js';
import type { EnterpriseInput } from '../db/enterprise-store.js';
import type { CallbackTaskSettings, Enterprise, LeadSettings } from '../domain/enterprise.js';
import { enterpriseUrls } from '../http/public-paths.js';
import { randomSecret } from '../secrets/secret-box.js';
import { enterpriseToken } from '../secrets/enterprise-tokens.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';
import { enterpriseSnapshot, fingerprint } from '../audit/audit-snapshots.js';
import { crmAccount } from '../domain/crm-account.js';
import { moduleCode, register } from '../integration/registration.js';
import { hasPbxFlags, PBX_FLAGS, pbxPatchFromFlags, savePbx, withCrm } from './clicktocall-commands.js';
import { checkCrmAccount, type AccountCheck, type AccountNeeds } from '../crm/account-check.js';
import { CrmKeyUnusableError } from '../lib/errors.js';
import { FLAGS, settingsFrom } from './enterprise-settings.js';

export function mask(secret: string): string {
  return secret.length <= 8 ? '****' : `${secret.slice(0, 4)}…${'*'.repeat(4)}`;
}

export function enterpriseTokens(ctx: CliContext, e: Enterprise): { webhook: string; dashboard: string } {
  const gens = e.settings.tokenGenerations;
  return { webhook: enterpriseToken(ctx.box, 'webhook', e.number, gens), dashboard: enterpriseToken(ctx.box, 'dashboard', e.number, gens) };
}

export function describeEnterprise(ctx: CliContext, e: Enterprise, reveal: boolean): Record<string, unknown> {
  const tokens = enterpriseTokens(ctx, e);
  const urls = enterpriseUrls(ctx.config.publicUrl, e.number, tokens);
  return {
    number: e.number,
    crmUrl: e.crmUrl,
    apiKey: reveal ? e.apiKey : mask(e.apiKey),
    clientId: reveal ? e.clientId : mask(e.clientId),
    country: e.country,
    site: e.site,
    autoCreateCustomers: e.settings.autoCreateCustomers,
    telephonyEvents: e.settings.telephonyEvents,
    skipManagerOnBreak: e.settings.skipManagerOnBreak,
    timezone: e.settings.crmTimezone,
    externalPhones: e.settings.externalPhones,
    pbxAddresses: e.settings.pbxAddresses.length > 0 ? e.settings.pbxAddresses.join(', ') : '(any address AGI_ALLOW admits)',
    saleStatuses: e.settings.saleStatuses.join(', '),
    callbackTasks: {
      enabled: e.settings.callbackTasks.enabled ? 'on' : 'off',
      defaultUserId: e.settings.callbackTasks.defaultUserId ?? '(none: only callers with a manager get a task)',
      dueMinutes: e.settings.callbackTasks.dueMinutes,
    },
    leads: {
      enabled: e.settings.leads.enabled ? 'on' : 'off',
      site: e.settings.leads.site ?? `(the enterprise's: ${e.site ?? '-'})`,
      orderMethod: e.settings.leads.orderMethod ?? "(RetailCRM's default)",
      status: e.settings.leads.status ?? "(RetailCRM's default)",
      periodHours: e.settings.leads.periodHours,
    },
    recordingRetentionDays: e.settings.recordingRetentionDays ?? '(kept forever)',
    webhookToken: reveal ? tokens.webhook : mask(tokens.webhook),
    dashboardToken: reveal ? tokens.dashboard : mask(tokens.dashboard),
    urls: reveal
      ? urls
      : { ...urls, webhookUrl: urls.webhookUrl.replace(tokens.webhook, mask(tokens.webhook)), dashboardUrl: urls.dashboardUrl.replace(tokens.dashboard, mask(tokens.dashboard)) },
    dialplan: {
      incoming: `AGI(agi://<this-host>:${ctx.config.agiPort}/incoming?enterprise=${e.number})`,
      outgoing: `AGI(agi://<this-host>:${ctx.config.agiPort}/outgoing?enterprise=${e.number})`,
      hangup: `AGI(agi://<this-host>:${ctx.config.agiPort}/hangup?enterprise=${e.number})`,
    },
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
  };
}

function printObject(ctx: CliContext, obj: Record<string, unknown>, indent = ''): void {
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      ctx.io.out(`${indent}${k}:`);
      printObject(ctx, v as Record<string, unknown>, `${indent}  `);
    } else {
      ctx.io.out(`${indent}${k}: ${Array.isArray(v) ? JSON.stringify(v) : String(v ?? '')}`);
    }
  }
}

async function checkAccount(ctx: CliContext, url: string, apiKey: string, needs: AccountNeeds, number: string): Promise<AccountCheck> {
  const check = await withCrm(ctx, (crm) => checkCrmAccount(crm, { key: number, url, apiKey }, needs, ctx.config.crmTimeoutMs));
  for (const w of check.warnings) ctx.io.err(`warning: ${w}`);
  if (!check.ok) throw new CrmKeyUnusableError(check.problems);
  ctx.io.out(`RetailCRM: key accepted; timezone ${check.timezone ?? 'unknown'}; sites ${check.sites.join(', ') || '-'}`);
  return check;
}

const ROTATABLE = ['webhook', 'dashboard', 'client-id'] as const;

/**
 * `enterprise rotate --number N --what webhook|dashboard|client-id`: a new webhook or dashboard token (the old
 * one stops working at once), or a new clientId, re-registered in RetailCRM when the module is registered there
 * (otherwise RetailCRM would go on sending the old one with click-to-call and status callbacks).
 */
async function rotateCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, { number: { type: 'string' }, what: { type: 'string' }, 'skip-register': { type: 'boolean' } });
  const e = await ctx.enterprises.get(a.enterpriseNumber(a.required(flags, 'number')));
  const what = a.required(flags, 'what');
  if (!(ROTATABLE as readonly string[]).includes(what)) throw new InputError(`--what is one of ${ROTATABLE.join(', ')}`, 'what');
  if (what === 'client-id') {
    await rotateClientId(ctx, e, flags['skip-register'] === true);
    return;
  }
  const purpose = what as 'webhook' | 'dashboard';
  const gens = e.settings.tokenGenerations;
  const next = { ...gens, [purpose]: gens[purpose] + 1 };
  const updated = await ctx.enterprises.update(e.number, { settings: { tokenGenerations: next } });
  const fp = (x: Enterprise): string => fingerprint(ctx.box, enterpriseTokens(ctx, x)[purpose]);
  await ctx.recordChange({ action: `enterprise.rotate.${purpose}`, enterprise: e.number, before: { token: fp(e) }, after: { token: fp(updated) } });
  const urls = enterpriseUrls(ctx.config.publicUrl, e.number, enterpriseTokens(ctx, updated));
  ctx.io.out(`${purpose} token of enterprise ${e.number} rotated; the old one no longer works`);
  if (purpose === 'webhook') {
    ctx.io.out(`webhookUrl: ${urls.webhookUrl}`);
    ctx.io.out('put it into the RetailCRM triggers that call the old URL (docs/retailcrm-triggers.md)');
  } else {
    ctx.io.out(`dashboardUrl: ${urls.dashboardUrl}`);
  }
}

async function rotateClientId(ctx: CliContext, e: Enterprise, skipRegister: boolean): Promise<void> {
  const updated = await ctx.enterprises.update(e.number, { clientId: randomSecret(24) });
  let registered = false;
  if (!skipRegister) {
    try {
      await withCrm(ctx, async (crm) => {
        const existing = await crm.integrationModuleGet(crmAccount(updated), moduleCode(e.number), { timeoutMs: ctx.config.crmTimeoutMs });
        if (!existing) return;
        await register({ enterprises: ctx.enterprises, extensions: ctx.extensions, crm, publicUrl: ctx.config.publicUrl }, e.number);
        registered = true;
      });
    } catch (err) {
      // RetailCRM still knows the old clientId: keep it, or click-to-call would stop working.
      await ctx.enterprises.update(e.number, { clientId: e.clientId });
      throw err;
    }
  }
  await ctx.recordChange({
    action: 'enterprise.rotate.client-id',
    enterprise: e.number,
    before: { clientId: fingerprint(ctx.box, e.clientId) },
    after: { clientId: fingerprint(ctx.box, updated.clientId), reregistered: registered },
  });
  ctx.io.out(`clientId of enterprise ${e.number} rotated`);
  ctx.io.out(registered
    ? 'the telephony module in RetailCRM was registered again with it'
    : 'the module is not registered in RetailCRM (or --skip-register): run "retailcrm-agi register" when it is');
}

export async function enterpriseCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  switch (sub) {
    case 'add': {
      const flags = a.parseFlags(argv, { ...FLAGS, 'skip-check': { type: 'boolean' } });
      const number = a.enterpriseNumber(a.required(flags, 'number'));
      const input = {
        number,
        crmUrl: a.crmUrl(a.required(flags, 'crm-url')),
        apiKey: a.apiKey(a.required(flags, 'api-key')),
        clientId: a.clientId(a.str(flags, 'client-id') ?? randomSecret(24)),
        country: a.country(a.str(flags, 'country') ?? 'RU'),
        site: a.site(a.str(flags, 'site') ?? ''),
        settings: settingsFrom(flags),
      };
      if (await ctx.enterprises.find(number)) throw new InputError(`enterprise ${number} already exists (use "enterprise set")`, 'number');
      let site = input.site;
      const settings: Record<string, unknown> = { ...input.settings };
      if (flags['skip-check'] === true) {
        ctx.io.err('warning: --skip-check: the API key, scopes, sites and timezone were not checked (run "enterprise check" later)');
      } else {
        const needs = {
          telephonyEvents: settings['telephonyEvents'] !== false,
          autoCreateCustomers: settings['autoCreateCustomers'] !== false,
          callbackTasks: (settings['callbackTasks'] as CallbackTaskSettings | undefined)?.enabled === true,
          leads: (settings['leads'] as LeadSettings | undefined)?.enabled === true,
          site,
        };
        const check = await checkAccount(ctx, input.crmUrl, input.apiKey, needs, number);
        const tz = a.str(flags, 'timezone');
        if (tz === undefined && check.timezone !== null) settings['crmTimezone'] = check.timezone;
        else if (tz !== undefined && check.timezone !== null && tz !== check.timezone) {
          ctx.io.err(`warning: --timezone ${tz} differs from RetailCRM's ${check.timezone}; using ${tz}`);
        }
        if (site === null && check.sites.length === 1) site = check.sites[0] ?? null;
      }
      const created = await ctx.enterprises.create({ ...input, site, settings });
      await ctx.recordChange({ action: 'enterprise.add', enterprise: created.number, before: null, after: enterpriseSnapshot(ctx.box, created) });
      ctx.io.out(`enterprise ${created.number} added`);
      printObject(ctx, describeEnterprise(ctx, created, false));
      return;
    }
    case 'rotate': {
      await rotateCommand(ctx, argv);
      return;
    }
    case 'check': {
      const flags = a.parseFlags(argv, { number: { type: 'string' } });
      const e = await ctx.enterprises.get(a.enterpriseNumber(a.required(flags, 'number')));
      const needs = {
        telephonyEvents: e.settings.telephonyEvents,
        autoCreateCustomers: e.settings.autoCreateCustomers,
        callbackTasks: e.settings.callbackTasks.enabled,
        leads: e.settings.leads.enabled,
        site: e.site,
      };
      const check = await checkAccount(ctx, e.crmUrl, e.apiKey, needs, e.number);
      if (check.timezone !== null && check.timezone !== e.settings.crmTimezone) {
        ctx.io.err(
          `warning: the enterprise uses timezone ${e.settings.crmTimezone}, RetailCRM says ${check.timezone}: ` +
            `retailcrm-agi enterprise set --number ${e.number} --timezone ${check.timezone}`,
        );
      }
      ctx.io.out(`enterprise ${e.number}: the key can work (scopes: ${check.scopes.join(', ')})`);
      return;
    }
    case 'set': {
      const flags = a.parseFlags(argv, { ...FLAGS, ...PBX_FLAGS });
      const number = a.enterpriseNumber(a.required(flags, 'number'));
      const patch: Partial<Omit<EnterpriseInput, 'number'>> = {};
      const url = a.str(flags, 'crm-url');
      const key = a.str(flags, 'api-key');
      const cid = a.str(flags, 'client-id');
      const ctry = a.str(flags, 'country');
      const st = a.str(flags, 'site');
      const before = await ctx.enterprises.get(number);
      const updated = await ctx.enterprises.update(number, {
        ...patch,
        ...(url !== undefined ? { crmUrl: a.crmUrl(url) } : {}),
        ...(key !== undefined ? { apiKey: a.apiKey(key) } : {}),
        ...(cid !== undefined ? { clientId: a.clientId(cid) } : {}),
        ...(ctry !== undefined ? { country: a.country(ctry) } : {}),
        ...(st !== undefined ? { site: a.site(st) } : {}),
        settings: settingsFrom(flags, before.settings),
      });
      await ctx.recordChange({
        action: 'enterprise.set', enterprise: number, before: enterpriseSnapshot(ctx.box, before), after: enterpriseSnapshot(ctx.box, updated),
      });
      if (hasPbxFlags(flags)) await savePbx(ctx, number, pbxPatchFromFlags(flags));
      ctx.io.out(`enterprise ${updated.number} updated`);
      return;
    }
    case 'list': {
      a.parseFlags(argv, {});
      const all = await ctx.enterprises.list();
      if (all.length === 0) ctx.io.out('no enterprises yet: add one with "retailcrm-agi enterprise add"');
      for (const e of all) ctx.io.out(`${e.number}\t${e.crmUrl}\tcountry=${e.country}\tsite=${e.site ?? '-'}`);
      return;
    }
    case 'show': {
      const flags = a.parseFlags(argv, { number: { type: 'string' }, json: { type: 'boolean' } });
      const e = await ctx.enterprises.get(a.enterpriseNumber(a.required(flags, 'number')));
      const extensions = await ctx.extensions.list(e.number);
      if (flags['json'] === true) {
        ctx.io.out(JSON.stringify({ ...describeEnterprise(ctx, e, true), extensions }, null, 2));
      } else {
        printObject(ctx, describeEnterprise(ctx, e, false));
        ctx.io.out(`extensions: ${extensions.map((x) => `${x.ext}→user ${x.userId}`).join(', ') || '(none)'}`);
      }
      return;
    }
    case 'remove': {
      const flags = a.parseFlags(argv, { number: { type: 'string' } });
      const number = a.enterpriseNumber(a.required(flags, 'number'));
      const before = await ctx.enterprises.find(number);
      if (!(await ctx.enterprises.remove(number))) throw new InputError(`no enterprise ${number}`, 'number');
      await ctx.recordChange({ action: 'enterprise.remove', enterprise: number, before: enterpriseSnapshot(ctx.box, before), after: null });
      ctx.io.out(`enterprise ${number} removed`);
      return;
    }
    default:
      throw new InputError('usage: retailcrm-agi enterprise add|set|check|rotate|list|show|remove [flags]');
  }
}

export async function extensionCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  switch (sub) {
    case 'set': {
      const flags = a.parseFlags(argv, { enterprise: { type: 'string' }, ext: { type: 'string' }, 'user-id': { type: 'string' } });
      const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
      await ctx.enterprises.get(number);
      const ext = a.extension(a.required(flags, 'ext'));
      const userId = a.positiveInt(a.required(flags, 'user-id'), 'user-id');
      const before = (await ctx.extensions.list(number)).find((m) => m.ext === ext || m.userId === userId);
      await ctx.extensions.set(number, ext, userId);
      await ctx.recordChange({
        action: 'extension.set', enterprise: number, before: before ? { ext: before.ext, userId: before.userId } : null, after: { ext, userId },
      });
      ctx.io.out(`extension ${ext} → RetailCRM user ${userId} (enterprise ${number})`);
      return;
    }
    case 'remove': {
      const flags = a.parseFlags(argv, { enterprise: { type: 'string' }, ext: { type: 'string' } });
      const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
      const ext = a.extension(a.required(flags, 'ext'));
      const before = (await ctx.extensions.list(number)).find((m) => m.ext === ext);
      if (!(await ctx.extensions.remove(number, ext))) throw new InputError(`no extension ${ext} in enterprise ${number}`);
      await ctx.recordChange({ action: 'extension.remove', enterprise: number, before: { ext, userId: before?.userId ?? null }, after: null });
      ctx.io.out(`extension ${ext} removed`);
      return;
    }
    case 'list': {
      const flags = a.parseFlags(argv, { enterprise: { type: 'string' } });
      const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
      await ctx.enterprises.get(number);
      for (const m of await ctx.extensions.list(number)) ctx.io.out(`${m.ext}\t${m.userId}`);
      return;
    }
    default:
      throw new InputError('usage: retailcrm-agi extension set|remove|list --enterprise N [--ext 101 --user-id 7]');
  }
}
