/**
 * Is SECRET_KEY the key this database was set up with? The database keeps one row (sql/007_key_check.sql): a
 * keyed hash of a fixed label under the key and a short key id. The first start writes it; every start (serve
 * and CLI) compares. A database that predates the row gets it on its first start, once a stored secret proves
 * the key right (or there is none yet), so a wrong key is never recorded as the right one.
 */
import { timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { SecretError, SecretKeyMismatchError } from '../errors.js';
import type { Pool } from '../db/pool.js';
import { createSecretBox, type SecretBox } from './secret-box.js';
import { resolveSecretKey } from './secret-key-file.js';

const LABEL = 'retailcrm-agi SECRET_KEY check v1';

export interface KeyFingerprint {
  readonly keyId: string;
  readonly checkMac: string;
}

export function keyFingerprint(box: SecretBox): KeyFingerprint {
  return { keyId: box.hash('key-id', LABEL).slice(0, 12), checkMac: box.hash('key-check', LABEL) };
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

/** Throws SecretKeyMismatchError when the database belongs to another key; records the key on first use. */
export async function checkSecretKey(pool: Pool, box: SecretBox, source: string): Promise<void> {
  const mine = keyFingerprint(box);
  const stored = (await pool.query<{ key_id: string; check_mac: string }>('select key_id, check_mac from secret_key_check where id = 1')).rows[0];
  if (stored) {
    if (!sameMac(stored.check_mac, mine.checkMac)) throw mismatch(stored.key_id, mine.keyId, source);
    return;
  }
  // No row yet: a database from before 007 may hold secrets sealed with another key; one must open.
  const sealed = (await pool.query<{ api_key_enc: string }>('select api_key_enc from enterprises order by created_at limit 1')).rows[0];
  if (sealed) {
    try {
      box.open(sealed.api_key_enc);
    } catch (err) {
      if (err instanceof SecretError) throw mismatch(null, mine.keyId, source);
      throw err;
    }
  }
  await pool.query('insert into secret_key_check (key_id, check_mac) values ($1, $2) on conflict (id) do nothing', [mine.keyId, mine.checkMac]);
  const winner = (await pool.query<{ key_id: string; check_mac: string }>('select key_id, check_mac from secret_key_check where id = 1')).rows[0];
  if (winner && !sameMac(winner.check_mac, mine.checkMac)) throw mismatch(winner.key_id, mine.keyId, source);
}

/**
 * The secret box of this process, checked against the database: SECRET_KEY, else DATA_DIR/secret.key (generated
 * once, with `onGenerated` telling the operator to back it up). Serve and the CLI both start here.
 */
export async function openCheckedSecretBox(
  pool: Pool,
  config: { readonly secretKey: string | null; readonly dataDir: string },
  onGenerated: (file: string) => void,
): Promise<SecretBox> {
  const secret = await resolveSecretKey(config.secretKey, config.dataDir);
  const source =
    secret.source === 'env' ? 'from the environment' : secret.source === 'file' ? `from ${secret.file}` : `generated just now in ${secret.file} because SECRET_KEY is not set`;
  const box = createSecretBox(secret.key);
  try {
    await checkSecretKey(pool, box, source);
  } catch (err) {
    // A key made a moment ago for a database that has one already is of no use to anyone.
    if (secret.source === 'generated' && secret.file !== undefined) await rm(secret.file, { force: true });
    throw err;
  }
  if (secret.source === 'generated' && secret.file !== undefined) onGenerated(secret.file);
  return box;
}
