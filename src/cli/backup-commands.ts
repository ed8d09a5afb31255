/**
 * `retailcrm-agi backup --out FILE` and `restore --from FILE`: the database with pg_dump/pg_restore and, only on
 * request, the keyring (SECRET_KEY and every key `secret rotate` added) sealed with a passphrase into a file of its
 * own (without it, a restored database's API keys cannot be read and old recording links do not verify).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { openDatabase } from '../db/connect.js';
import { oldestSealedApiKey } from '../db/enterprise-store.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { dumpDatabase, restoreDatabase } from '../backup/pg-backup.js';
import { openKeyBundle, sealKeyring } from '../backup/key-bundle.js';
import { InputError, SecretError } from '../lib/errors.js';
import { loadKeyring } from '../secrets/key-check.js';
import { keyIdOf } from '../secrets/key-derivation.js';
import { keyringPath, knownIds, readKeyringFile, serializeKeyring, writeKeyringFile, type Keyring } from '../secrets/keyring.js';
import { createKeyringBox } from '../secrets/secret-box.js';
import * as a from './args.js';
import type { CliOutput } from './cli-context.js';

export const BACKUP_USAGE = `  backup --out FILE [--secret-key-out FILE --passphrase-file FILE]
                                          pg_dump of the database; the keyring (SECRET_KEY and rotated keys) sealed
                                          with a passphrase only on request
  restore --from FILE [--secret-key-from FILE --passphrase-file FILE]
                                          into an empty database (DATABASE_URL), then migrations; the key into
                                          DATA_DIR/secret.key, a rotated keyring into SECRET_KEYRING_FILE`;

const DUMP_DEADLINE_MS = 3_600_000;

async function passphrase(flags: Record<string, string | boolean | undefined>): Promise<string> {
  const file = a.required(flags, 'passphrase-file');
  const text = (await readFile(file, 'utf8').catch(() => {
    throw new InputError(`cannot read --passphrase-file ${file}`, 'passphrase-file');
  })).replace(/\r?\n$/, '');
  return text;
}

async function withDatabaseUrl<T>(config: Config, fn: (url: string) => Promise<T>): Promise<T> {
  const db = await openDatabase(config, { owner: false });
  try {
    return await fn(db.url);
  } finally {
    await db.release();
  }
}

export async function backupCommand(config: Config, io: CliOutput, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, { out: { type: 'string' }, 'secret-key-out': { type: 'string' }, 'passphrase-file': { type: 'string' } });
  const out = path.resolve(a.required(flags, 'out'));
  const keyOut = a.str(flags, 'secret-key-out');
  const phrase = keyOut !== undefined ? await passphrase(flags) : undefined;
  if (existsSync(out)) throw new InputError(`${out} exists: choose a new file name`, 'out');
  await withDatabaseUrl(config, (url) => dumpDatabase(url, out, DUMP_DEADLINE_MS));
  io.out(`database written to ${out}`);
  if (keyOut !== undefined && phrase !== undefined) {
    const { ring } = await loadKeyring(config);
    await writeFile(path.resolve(keyOut), sealKeyring(ring, phrase), { mode: 0o600, flag: 'wx' });
    io.out(`keyring (key ids ${[...knownIds(ring)].join(', ')}) sealed with the passphrase into ${path.resolve(keyOut)}: keep it apart from the database backup`);
  } else {
    io.err('note: SECRET_KEY and the keyring are not in the backup; keep them safe (or use --secret-key-out), or a restore cannot read API keys');
  }
}

/** What --secret-key-from holds: a keyring of one key that never rotated is SECRET_KEY alone (DATA_DIR/secret.key, as before). */
function restoredKeys(bundle: ReturnType<typeof openKeyBundle> | undefined): { key?: string; ring?: Keyring } {
  if (bundle === undefined) return {};
  if (bundle.kind === 'key') return { key: bundle.key };
  const only = bundle.ring.keys.length === 1 ? bundle.ring.keys[0]?.key : undefined;
  return only !== undefined ? { key: only } : { ring: bundle.ring };
}

async function restoreKeyringFile(config: Config, ring: Keyring): Promise<string> {
  const file = keyringPath(config);
  const existing = readKeyringFile(file);
  if (existing && serializeKeyring(existing) !== serializeKeyring(ring)) {
    throw new InputError(`${file} holds another keyring: move it away, then run restore again into an empty database`, 'secret-key-from');
  }
  if (!existing) await writeKeyringFile(file, ring);
  return file;
}

export async function restoreCommand(config: Config, io: CliOutput, argv: readonly string[]): Promise<void> {
  const flags = a.parseFlags(argv, { from: { type: 'string' }, 'secret-key-from': { type: 'string' }, 'passphrase-file': { type: 'string' } });
  const from = path.resolve(a.required(flags, 'from'));
  if (!existsSync(from)) throw new InputError(`no backup file ${from}`, 'from');
  const keyFrom = a.str(flags, 'secret-key-from');
  const restored = restoredKeys(keyFrom !== undefined ? openKeyBundle(await readFile(keyFrom, 'utf8'), await passphrase(flags)) : undefined);
  const restoredKey = restored.key;
  if (restoredKey !== undefined && config.secretKey !== null && config.secretKey !== restoredKey) {
    throw new InputError('SECRET_KEY is set and differs from the key in --secret-key-from: unset it (the key is then kept in DATA_DIR) or set it to the restored key', 'secret-key-from');
  }
  if (restored.ring && config.secretKey !== null && !knownIds(restored.ring).has(keyIdOf(config.secretKey))) {
    throw new InputError('SECRET_KEY is set and is not a key of the keyring in --secret-key-from: unset it, or set it to this installation\'s SECRET_KEY', 'secret-key-from');
  }
  await withDatabaseUrl(config, async (url) => {
    const pool = createPool({ connectionString: url, max: 1, applicationName: 'retailcrm-agi-restore' });
    try {
      await restoreDatabase(pool, url, from, DUMP_DEADLINE_MS);
      const applied = await migrate(pool);
      io.out(`database restored from ${from}${applied.length > 0 ? `; migrated: ${applied.join(', ')}` : ''}`);
      if (restoredKey !== undefined && config.secretKey === null) {
        const file = path.join(config.dataDir, 'secret.key');
        if (existsSync(file) && (await readFile(file, 'utf8')).trim() !== restoredKey) {
          throw new InputError(`${file} holds another key: move it away, then run restore again into an empty database`, 'secret-key-from');
        }
        await mkdir(config.dataDir, { recursive: true });
        if (!existsSync(file)) await writeFile(file, `${restoredKey}\n`, { mode: 0o600, flag: 'wx' });
        io.out(`SECRET_KEY restored into ${file}`);
      }
      if (restored.ring) io.out(`keyring (key ids ${[...knownIds(restored.ring)].join(', ')}) restored into ${await restoreKeyringFile(config, restored.ring)}`);
      // Prove the keys: one stored API key must open with them.
      const ring = restored.ring ?? (await loadKeyring(restoredKey !== undefined && config.secretKey === null ? { ...config, secretKey: restoredKey } : config)).ring;
      const sealed = await oldestSealedApiKey(pool);
      if (sealed !== null) {
        try {
          createKeyringBox(ring).open(sealed);
          io.out('stored API keys open with this SECRET_KEY');
        } catch (err) {
          if (!(err instanceof SecretError)) throw err;
          io.err('warning: stored API keys do not open with this SECRET_KEY: restore the key of the backup (--secret-key-from)');
        }
      }
    } finally {
      await pool.end();
    }
  });
}
