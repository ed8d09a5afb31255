/**
 * `retailcrm-agi secret list|rotate|retire`: the keyring (src/secrets/keyring.ts). `rotate` adds a random key,
 * makes it current and re-encrypts every stored secret with it in one transaction; `retire` drops an old key's
 * material once nothing stored names it. Key material is never printed; the audit log gets key ids only.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { PBX_SEALED_COLUMNS } from '../clicktocall/pbx-store.js';
import { ENTERPRISE_SEALED_COLUMNS } from '../db/enterprise-store.js';
import { readKeyCheck, recordRotation, removeKeyId } from '../db/key-check-store.js';
import { inTransaction, type Queryable } from '../db/pool.js';
import { InputError, KeyInUseError, SecretError } from '../lib/errors.js';
import { keyFingerprint } from '../secrets/key-check.js';
import {
  activeKeys, KEY_ID, keyringPath, newKey, withNewCurrentKey, withRetiredKey, writeKeyringFile, type Keyring,
} from '../secrets/keyring.js';
import { createKeyringBox } from '../secrets/secret-box.js';
import { resealAll, sealedValuesByKey, type SealedColumn } from '../secrets/stored-secrets.js';
import * as a from './args.js';
import type { CliContext } from './cli-context.js';

export const SECRET_USAGE = `  secret list [--json]                    the keyring: key ids, current, added and retired dates, what each seals
  secret rotate                           a new current key; every stored secret re-encrypted with it
  secret retire --key-id ID               forget an old key (refused while a stored secret needs it); links
                                          and tokens signed with it stop working`;

/** Every column holding a sealed value: a new table with a sealed column is added here, or rotation misses it. */
const SEALED_COLUMNS: readonly SealedColumn<Queryable>[] = [...ENTERPRISE_SEALED_COLUMNS, ...PBX_SEALED_COLUMNS];

const describeRing = (ring: Keyring): Record<string, unknown> => ({ currentKeyId: ring.current, keyIds: [...activeKeys(ring).keys()] });

export async function secretCommand(ctx: CliContext, sub: string | undefined, argv: readonly string[]): Promise<void> {
  switch (sub) {
    case 'list':
      return listKeys(ctx, a.parseFlags(argv, { json: { type: 'boolean' } })['json'] === true);
    case 'rotate':
      a.parseFlags(argv, {});
      return rotateKey(ctx);
    case 'retire': {
      const id = a.required(a.parseFlags(argv, { 'key-id': { type: 'string' } }), 'key-id');
      if (!KEY_ID.test(id)) throw new InputError('--key-id is 12 hex digits, as "secret list" shows it', 'key-id');
      return retireKey(ctx, id);
    }
    default:
      throw new InputError(`usage:\n${SECRET_USAGE}`);
  }
}

async function listKeys(ctx: CliContext, json: boolean): Promise<void> {
  const ring = ctx.box.keyring();
  const usage = await sealedValuesByKey(ctx.pool, SEALED_COLUMNS, ring.legacy);
  const rows = ring.keys.map((k) => ({
    keyId: k.id,
    state: k.retiredAt !== undefined ? 'retired' : k.id === ring.current ? 'current' : 'old',
    legacy: k.id === ring.legacy,
    addedAt: k.addedAt,
    retiredAt: k.retiredAt ?? null,
    sealedValues: [...(usage.get(k.id)?.values() ?? [])].reduce((s, n) => s + n, 0),
  }));
  if (json) {
    ctx.io.out(JSON.stringify(rows, null, 2));
    return;
  }
  ctx.io.out('key id\tstate\tadded\tretired\tstored secrets sealed with it');
  for (const r of rows) {
    ctx.io.out(`${r.keyId}\t${r.state}${r.legacy ? ' (legacy: v1 values, links without key id)' : ''}\t${r.addedAt}\t${r.retiredAt ?? '-'}\t${r.sealedValues}`);
  }
}

async function rotateKey(ctx: CliContext): Promise<void> {
  const before = ctx.box.keyring();
  const next = withNewCurrentKey(before, newKey(), new Date());
  const file = keyringPath(ctx.config);
  const previous = existsSync(file) ? await readFile(file, 'utf8') : null;
  // The file first: a crash after the commit must never leave secrets sealed with a key no file holds.
  await writeKeyringFile(file, next);
  let count: number;
  try {
    count = await inTransaction(ctx.pool, async (client) => {
      const stored = await readKeyCheck(client, true);
      if (stored?.keyId !== before.current) throw new SecretError('the keyring changed while rotating (another "secret rotate"?): run it again');
      const box = createKeyringBox(next);
      const n = await resealAll(client, SEALED_COLUMNS, box);
      const fp = keyFingerprint(box);
      await recordRotation(client, fp, [...activeKeys(next).keys()], before.legacy);
      return n;
    });
  } catch (err) {
    if (previous === null) await rm(file, { force: true });
    else await writeFile(file, previous, { mode: 0o600 });
    throw err;
  }
  await ctx.recordChange({ action: 'secret.rotate', enterprise: null, before: describeRing(before), after: describeRing(next) });
  ctx.io.out(`new current key ${next.current}; ${count} stored secrets re-encrypted with it; keyring written to ${file}`);
  ctx.io.out(`old keys (${[...activeKeys(before).keys()].join(', ')}) are kept: recording links and tokens they signed still work until "secret retire"`);
  ctx.io.out(`now: back up ${file} (backup --secret-key-out), copy it to every other host running the service, and restart every instance`);
}

async function retireKey(ctx: CliContext, id: string): Promise<void> {
  const before = ctx.box.keyring();
  const entry = before.keys.find((k) => k.id === id);
  if (!entry) throw new InputError(`no key ${id} in the keyring ("secret list" shows them)`, 'key-id');
  if (entry.retiredAt !== undefined) throw new InputError(`key ${id} was retired on ${entry.retiredAt}`, 'key-id');
  if (id === before.current) throw new KeyInUseError(`key ${id} is the current key: run "secret rotate" first, then retire it`);
  const after = withRetiredKey(before, id, new Date());
  await inTransaction(ctx.pool, async (client) => {
    await readKeyCheck(client, true); // serialises with rotate
    const uses = (await sealedValuesByKey(client, SEALED_COLUMNS, before.legacy)).get(id);
    if (uses !== undefined && uses.size > 0) {
      const where = [...uses].map(([col, n]) => `${col}: ${n}`).join(', ');
      throw new KeyInUseError(`key ${id} still seals stored secrets (${where}): run "secret rotate", which re-encrypts them with a new key, then retire it`);
    }
    await removeKeyId(client, id);
  });
  await writeKeyringFile(keyringPath(ctx.config), after);
  await ctx.recordChange({ action: 'secret.retire', enterprise: null, before: describeRing(before), after: { ...describeRing(after), retiredKeyId: id } });
  ctx.io.out(`key ${id} retired: its material is gone from ${keyringPath(ctx.config)}`);
  ctx.io.out(
    `recording links, webhook URLs and dashboard links signed with it${id === before.legacy ? ' (and every link without a key id, from before the first rotation)' : ''} ` +
      'no longer work: "enterprise show" prints the current webhook and dashboard URLs to paste into RetailCRM',
  );
}
