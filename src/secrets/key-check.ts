/**
 * Do this process's keys belong to this database? The database keeps one row (sql/007_key_check.sql, 012): the
 * current key's id and a keyed hash of a fixed label under it and, once `secret rotate` ran, the ids of every key
 * stored secrets and signed links may still need, and the legacy key's id. The first start writes it; every start
 * (serve and CLI) compares. A database that predates the row gets it on its first start, once a stored secret
 * proves the key right (or there is none yet), so a wrong key is never recorded as the right one.
 * The database has the last word on which key is current; the keyring file only holds the material.
 * The row's SQL lives in db/key-check-store.ts, which hands this module its `KeyCheckRecords`.
 */
import { timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { KeyringIncompleteError, SecretError, SecretKeyMismatchError } from '../lib/errors.js';
import { keyIdOf } from './key-derivation.js';
import { activeKeys, keyringPath, knownIds, readKeyringFile, singleKeyring, type Keyring } from './keyring.js';
import { createKeyringBox, createSecretBox, type SecretBox } from './secret-box.js';
import { resolveSecretKey } from './secret-key-file.js';

const LABEL = 'retailcrm-agi SECRET_KEY check v1';

export interface KeyFingerprint {
  readonly keyId: string;
  readonly checkMac: string;
}

/** The current key's id and check hash. */
export function keyFingerprint(box: Pick<SecretBox, 'hash'>): KeyFingerprint {
  return { keyId: box.hash('key-id', LABEL).slice(0, 12), checkMac: box.hash('key-check', LABEL) };
}

export interface StoredKeyCheck {
  readonly keyId: string;
  readonly checkMac: string;
  /** Every key still needed; [keyId] before any rotation. */
  readonly keyIds: readonly string[];
  readonly legacyKeyId: string;
  readonly rotatedAt: Date | null;
  readonly createdAt: Date;
}

/** What the check needs from the database (db/key-check-store.ts `keyCheckRecords`). */
export interface KeyCheckRecords {
  read(): Promise<StoredKeyCheck | null>;
  /** Records the first key unless a row exists already. */
  insert(fp: KeyFingerprint): Promise<void>;
  /** The sealed API key of the oldest enterprise, or null without one. */
  oldestSealedApiKey(): Promise<string | null>;
}

function sameMac(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** `expected`: the recorded key id, or null when only a stored secret told (a database from before 007). */
function mismatch(expected: string | null, got: string, source: string): SecretKeyMismatchError {
  const which = expected === null ? 'the key its stored API keys were encrypted with' : `key id ${expected}`;
  return new SecretKeyMismatchError(
    `SECRET_KEY (${source}, key id ${got}) is not the key this database was set up with (${which}): ` +
      'stored API keys and signed links cannot be read with it. Start with the original SECRET_KEY (check the ' +
      'environment file given with --env-file or RCRM_ENV_FILE, or restore DATA_DIR/secret.key); no data was changed.',
  );
}

function incomplete(stored: StoredKeyCheck, have: readonly string[], missing: readonly string[], keyringFile: string): KeyringIncompleteError {
  return new KeyringIncompleteError(
    `this database's secrets were re-encrypted by "secret rotate" (current key id ${stored.keyId}; it needs key ids ` +
      `${stored.keyIds.join(', ')}), but this process has only key id${have.length > 1 ? 's' : ''} ${have.join(', ')}, without ${missing.join(', ')}: ` +
      `the keyring file ${keyringFile} is missing or older than the rotation. Restore it (from the backup made with ` +
      '--secret-key-out, or copy it from the host that rotated), or set SECRET_KEYRING_FILE to where it is; no data was changed.',
  );
}

/**
 * Throws SecretKeyMismatchError (another key altogether) or KeyringIncompleteError (a key the database needs is
 * missing); records the current key on first use. Resolves to the keyring as the database has it: its current
 * and legacy key ids.
 */
export async function checkKeyring(db: KeyCheckRecords, ring: Keyring, source: string, keyringFile = ''): Promise<Keyring> {
  const have = activeKeys(ring);
  const stored = await db.read();
  if (stored) {
    const current = have.get(stored.keyId);
    const missing = stored.keyIds.filter((id) => !have.has(id));
    if (current !== undefined && !sameMac(stored.checkMac, keyFingerprint(createSecretBox(current)).checkMac)) {
      throw mismatch(stored.keyId, ring.current, source);
    }
    // Never rotated: another key altogether. Rotated: the keyring file is what is missing (or the wrong one).
    if (current === undefined && stored.rotatedAt === null) throw mismatch(stored.keyId, ring.current, source);
    if (missing.length > 0) throw incomplete(stored, [...have.keys()], missing, keyringFile);
    // Never rotated: SECRET_KEY alone, in use since the database first saw it (what `secret rotate` keeps as its date).
    const keys = stored.rotatedAt === null ? ring.keys.map((k) => (k.id === stored.keyId ? { ...k, addedAt: stored.createdAt.toISOString() } : k)) : ring.keys;
    return { current: stored.keyId, legacy: stored.legacyKeyId, keys };
  }
  // No row yet: a database from before 007 may hold secrets sealed with another key; one must open.
  const box = createKeyringBox(ring);
  const sealed = await db.oldestSealedApiKey();
  if (sealed !== null) {
    try {
      box.open(sealed);
    } catch (err) {
      if (err instanceof SecretError) throw mismatch(null, ring.current, source);
      throw err;
    }
  }
  const mine = keyFingerprint(box);
  await db.insert(mine);
  const winner = await db.read();
  if (winner && !sameMac(winner.checkMac, mine.checkMac)) throw mismatch(winner.keyId, mine.keyId, source);
  return ring;
}

/** One key's check: the SecretBox-based entry of the tests and of databases that never rotated. */
export async function checkSecretKey(db: KeyCheckRecords, box: SecretBox, source: string): Promise<void> {
  await checkKeyring(db, box.keyring(), source);
}

/** This process's keyring: the keyring file when there is one, else SECRET_KEY (or DATA_DIR/secret.key) alone. */
export interface LoadedKeyring {
  readonly ring: Keyring;
  readonly source: string;
  readonly file: string;
  /** DATA_DIR/secret.key when it was generated just now. */
  readonly generated?: string;
}

export async function loadKeyring(config: KeyConfig): Promise<LoadedKeyring> {
  const file = keyringPath(config);
  const fromFile = readKeyringFile(file);
  if (fromFile) {
    if (config.secretKey !== null && !knownIds(fromFile).has(keyIdOf(config.secretKey))) {
      throw new SecretKeyMismatchError(
        `SECRET_KEY (key id ${keyIdOf(config.secretKey)}) is not in the keyring ${file} (key ids ${[...knownIds(fromFile)].join(', ')}): ` +
          'the environment and the keyring belong to different installations. Set the SECRET_KEY of this installation, or the right SECRET_KEYRING_FILE; no data was changed.',
      );
    }
    return { ring: fromFile, source: `keyring ${file}`, file };
  }
  const secret = await resolveSecretKey(config.secretKey, config.dataDir);
  const source =
    secret.source === 'env' ? 'from the environment' : secret.source === 'file' ? `from ${secret.file}` : `generated just now in ${secret.file} because SECRET_KEY is not set`;
  return {
    ring: singleKeyring(secret.key, new Date().toISOString()),
    source,
    file,
    ...(secret.source === 'generated' && secret.file !== undefined ? { generated: secret.file } : {}),
  };
}

export interface KeyConfig {
  readonly secretKey: string | null;
  readonly secretKeyringFile: string | null;
  readonly dataDir: string;
}

/**
 * The secret box of this process, checked against the database: the keyring file, else SECRET_KEY, else
 * DATA_DIR/secret.key (generated once, with `onGenerated` telling the operator to back it up). Serve and the CLI
 * both start here. The box re-reads the keyring file when it meets a key id it does not know (a rotation by the CLI).
 */
export async function openCheckedSecretBox(db: KeyCheckRecords, config: KeyConfig, onGenerated: (file: string) => void): Promise<SecretBox> {
  const loaded = await loadKeyring(config);
  let ring: Keyring;
  try {
    ring = await checkKeyring(db, loaded.ring, loaded.source, loaded.file);
  } catch (err) {
    // A key made a moment ago for a database that has one already is of no use to anyone.
    if (loaded.generated !== undefined) await rm(loaded.generated, { force: true });
    throw err;
  }
  if (loaded.generated !== undefined) onGenerated(loaded.generated);
  return createKeyringBox(ring, {
    reload: () => {
      try {
        return readKeyringFile(loaded.file);
      } catch {
        return null;
      }
    },
  });
}
