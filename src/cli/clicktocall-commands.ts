/**
 * `retailcrm-agi register|unregister|users sync|pbx set|show|test`: RetailCRM module registration, the user ↔
 * extension sync and the enterprise's PBX (AMI) connection. `pbxPatchFromFlags` is also what `enterprise set`
 * forwards its --ami-* flags to.
 */
import { AmiClient } from '../ami/client.js';
import { pbxSnapshot } from '../audit/audit-snapshots.js';
import { RetailCrmClient } from '../crm/client.js';
import { RateLimiter } from '../crm/rate-limiter.js';
import { errorCode, errorMessage, InputError } from '../lib/errors.js';
import { PbxStore, type PbxPatch } from '../clicktocall/pbx-store.js';
import { type PbxSettings } from '../domain/pbx-settings.js';
import { register, unregister, type RegistrationResult } from '../integration/registration.js';
import { syncUsers } from '../integration/users-sync.js';
import { CrmUserStore } from '../db/crm-user-store.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';

type Flags = Record<string, string | boolean | undefined>;

/** The PBX flags, for `pbx set` and for `enterprise set` to accept and forward. */
export const PBX_FLAGS = {
  'ami-host': { type: 'string' },
  'ami-port': { type: 'string' },
  'ami-user': { type: 'string' },
  'ami-secret': { type: 'string' },
  channel: { type: 'string' },
  context: { type: 'string' },
  'outbound-callerid': { type: 'string' },
  'originate-timeout': { type: 'string' },
} as const;

/** PBX flags → a patch for PbxStore.save (validated there); `--outbound-callerid ''` clears the number. */
export function pbxPatchFromFlags(flags: Flags): PbxPatch {
  const patch: { -readonly [K in keyof PbxPatch]: PbxPatch[K] } = {};
  const host = a.str(flags, 'ami-host');
  if (host !== undefined) patch.host = host.trim();
  const port = a.str(flags, 'ami-port');
  if (port !== undefined) patch.port = a.positiveInt(port, 'ami-port');
  const user = a.str(flags, 'ami-user');
  if (user !== undefined) patch.username = user.trim();
  const secret = a.str(flags, 'ami-secret');
  if (secret !== undefined) patch.secret = secret;
  const channel = a.str(flags, 'channel');
  if (channel !== undefined) patch.channelTemplate = channel.trim();
  const context = a.str(flags, 'context');
  if (context !== undefined) patch.context = context.trim();
  const cid = a.str(flags, 'outbound-callerid');
  if (cid !== undefined) patch.outboundCallerId = cid.trim() === '' ? null : cid.trim();
  const timeout = a.str(flags, 'originate-timeout');
  if (timeout !== undefined) patch.originateTimeoutS = a.positiveInt(timeout, 'originate-timeout');
  return patch;
}

export function hasPbxFlags(flags: Flags): boolean {
  return Object.keys(PBX_FLAGS).some((k) => flags[k] !== undefined);
}

function maskSecret(secret: string): string {
  return secret.length <= 4 ? '****' : `${secret.slice(0, 2)}…****`;
}

export function describePbx(p: PbxSettings): Record<string, string | number> {
  return {
    enterprise: p.enterprise,
    amiHost: p.host,
    amiPort: p.port,
    amiUser: p.username,
    amiSecret: maskSecret(p.secret),
    channel: p.channelTemplate,
    context: p.context,
    outboundCallerId: p.outboundCallerId ?? '(dialplan default)',
    originateTimeoutS: p.originateTimeoutS,
    updatedAt: p.updatedAt.toISOString(),
  };
}

/** A RetailCRM client for one command; always closed. */
export async function withCrm<T>(ctx: CliContext, fn: (crm: RetailCrmClient) => Promise<T>): Promise<T> {
  const limiter = new RateLimiter({ ratesPerSecond: { telephony: 10, general: 5 } });
  const crm = new RetailCrmClient({ limiter, defaultTimeoutMs: ctx.config.crmTimeoutMs, userAgent: 'retailcrm-agi-cli' });
  try {
    return await fn(crm);
  } finally {
    crm.close();
    limiter.close();
  }
}

function printRequest(ctx: CliContext, r: RegistrationResult): void {
  ctx.io.out(`${r.request.method} ${r.request.url}`);
  for (const [k, v] of Object.entries(r.request.headers)) ctx.io.out(`${k}: ${v}`);
  ctx.io.out('');
  ctx.io.out('integrationModule=');
  ctx.io.out(r.request.form.integrationModule);
}

function printInfo(ctx: CliContext, r: RegistrationResult, verb: string): void {
  ctx.io.out(`module ${r.module.code} ${verb} in RetailCRM`);
  if (r.clientIdGenerated) ctx.io.out('a new clientId was generated and stored');
  const missingUsers = r.info?.notExistUsersIds ?? [];
  if (missingUsers.length > 0) {
    ctx.io.err(`warning: RetailCRM has no users ${missingUsers.join(', ')}: fix the mapping (retailcrm-agi users sync)`);
  }
  const missingSites = r.info?.notExistSiteCodes ?? [];
  if (missingSites.length > 0) ctx.io.err(`warning: RetailCRM has no sites ${missingSites.join(', ')} (--external-phones)`);
}

/** `register --enterprise N [--dry-run]`. */
export async function registerCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, { enterprise: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
  const dryRun = flags['dry-run'] === true;
  await withCrm(ctx, async (crm) => {
    const deps = { enterprises: ctx.enterprises, extensions: ctx.extensions, crm, publicUrl: ctx.config.publicUrl };
    const result = await register(deps, number, { dryRun });
    if (dryRun) {
      ctx.io.out('dry run: this request would be sent (API key and clientId masked):');
      printRequest(ctx, result);
      if (result.clientIdGenerated) ctx.io.out('(a new clientId would be generated and stored)');
      return;
    }
    printInfo(ctx, result, 'registered');
    await ctx.recordChange({
      action: 'module.register', enterprise: number, before: null,
      after: { code: result.module.code, active: true, clientIdGenerated: result.clientIdGenerated },
    });
  });
}

/** `unregister --enterprise N [--dry-run]`: deactivates the module (active:false). */
export async function unregisterCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, { enterprise: { type: 'string' }, 'dry-run': { type: 'boolean' } });
  const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
  const dryRun = flags['dry-run'] === true;
  await withCrm(ctx, async (crm) => {
    const deps = { enterprises: ctx.enterprises, extensions: ctx.extensions, crm, publicUrl: ctx.config.publicUrl };
    const result = await unregister(deps, number, { dryRun });
    if (dryRun) printRequest(ctx, result);
    else {
      printInfo(ctx, result, 'deactivated');
      await ctx.recordChange({ action: 'module.unregister', enterprise: number, before: null, after: { code: result.module.code, active: false } });
    }
  });
}

/** `users sync --enterprise N [--apply] [--force]`. */
export async function usersCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  if (sub !== 'sync') throw new InputError('usage: retailcrm-agi users sync --enterprise N [--apply] [--force]');
  const flags = a.parseFlags(argv, {
    enterprise: { type: 'string' },
    apply: { type: 'boolean' },
    force: { type: 'boolean' },
  });
  const enterprise = await ctx.enterprises.get(a.enterpriseNumber(a.required(flags, 'enterprise')));
  const apply = flags['apply'] === true;
  const force = flags['force'] === true;
  if (force && !apply) throw new InputError('--force only makes sense with --apply', 'force');
  const rows = await withCrm(ctx, (crm) => syncUsers({ crm, extensions: ctx.extensions, names: new CrmUserStore(ctx.pool) }, enterprise, { apply, force }));
  ctx.io.out('userId\text\tcrmCode\taction\tactive\tname\temail');
  for (const r of rows) {
    ctx.io.out([r.userId, r.ext ?? '-', r.crmCode ?? '-', r.action, r.active ? 'yes' : 'no', r.name || '-', r.email || '-'].join('\t'));
  }
  if (apply) {
    const written = rows.filter((r) => r.action === 'set' || r.action === 'replaced').map((r) => ({ userId: r.userId, ext: r.crmCode, action: r.action }));
    if (written.length > 0) await ctx.recordChange({ action: 'users.sync', enterprise: enterprise.number, before: null, after: { written } });
  }
  const kept = rows.filter((r) => r.action === 'kept').length;
  const changed = rows.filter((r) => r.action === 'set' || r.action === 'replaced').length;
  if (!apply) ctx.io.out(`${rows.length} users; ${changed + kept} differ from RetailCRM (run with --apply to fill the mapping)`);
  else ctx.io.out(`${changed} mappings written${kept > 0 ? `; ${kept} kept (differ from RetailCRM: --force overwrites)` : ''}`);
}

/** Saves the enterprise's PBX settings and records the change (the AMI secret as a fingerprint). */
export async function savePbx(ctx: CliContext, number: string, patch: PbxPatch): Promise<PbxSettings> {
  const store = new PbxStore(ctx.pool, ctx.box);
  const before = await store.find(number);
  const saved = await store.save(number, patch);
  await ctx.recordChange({ action: 'pbx.set', enterprise: number, before: pbxSnapshot(ctx.box, before), after: pbxSnapshot(ctx.box, saved) });
  return saved;
}

/** `pbx set|show|test --enterprise N`. */
export async function pbxCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  const store = new PbxStore(ctx.pool, ctx.box);
  switch (sub) {
    case 'set': {
      const flags = a.parseFlags(argv, { enterprise: { type: 'string' }, ...PBX_FLAGS });
      const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
      await ctx.enterprises.get(number);
      const saved = await savePbx(ctx, number, pbxPatchFromFlags(flags));
      ctx.io.out(`PBX of enterprise ${number} saved (the service picks it up on the next click-to-call)`);
      for (const [k, v] of Object.entries(describePbx(saved))) ctx.io.out(`${k}: ${v}`);
      return;
    }
    case 'show': {
      const flags = a.parseFlags(argv, { enterprise: { type: 'string' } });
      const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
      const pbx = await store.find(number);
      if (!pbx) {
        ctx.io.out(`enterprise ${number} has no PBX: retailcrm-agi pbx set --enterprise ${number} --ami-host …`);
        return;
      }
      for (const [k, v] of Object.entries(describePbx(pbx))) ctx.io.out(`${k}: ${v}`);
      return;
    }
    case 'test': {
      const flags = a.parseFlags(argv, { enterprise: { type: 'string' } });
      const number = a.enterpriseNumber(a.required(flags, 'enterprise'));
      const pbx = await store.find(number);
      if (!pbx) throw new InputError(`enterprise ${number} has no PBX (retailcrm-agi pbx set)`, 'enterprise');
      await testPbx(ctx, pbx);
      return;
    }
    default:
      throw new InputError('usage: retailcrm-agi pbx set|show|test --enterprise N [flags]');
  }
}

/** Login and one Ping, with short deadlines and no reconnection. Exit status 1 (via the thrown error) on failure. */
async function testPbx(ctx: CliContext, pbx: PbxSettings): Promise<void> {
  const client = new AmiClient({
    host: pbx.host,
    port: pbx.port,
    username: pbx.username,
    secret: pbx.secret,
    events: 'off',
    reconnect: false,
    keepaliveIntervalMs: 0,
    connectTimeoutMs: 5_000,
    loginTimeoutMs: 5_000,
    actionTimeoutMs: 5_000,
  });
  try {
    await client.connect();
    ctx.io.out(`connected to ${pbx.host}:${pbx.port} (${client.banner ?? 'no banner'}), logged in as ${pbx.username}`);
    const { response } = await client.action('Ping');
    ctx.io.out(`Ping → ${response.get('Ping') ?? response.get('Response') ?? '?'}`);
  } catch (err) {
    ctx.io.err(`PBX test failed (${errorCode(err)}): ${errorMessage(err)}`);
    throw err;
  } finally {
    await client.close();
  }
}
