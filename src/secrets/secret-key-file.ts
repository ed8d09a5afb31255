/**
 * SECRET_KEY when the operator set none: generated once and kept in DATA_DIR/secret.key (mode 0600). Losing the
 * file makes stored API keys unreadable, so the caller warns the operator to back it up or set SECRET_KEY.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ResolvedSecretKey {
  readonly key: string;
  readonly source: 'env' | 'file' | 'generated';
  readonly file?: string;
}

export async function resolveSecretKey(fromEnv: string | null, dataDir: string): Promise<ResolvedSecretKey> {
  if (fromEnv !== null) return { key: fromEnv, source: 'env' };
  const file = path.join(dataDir, 'secret.key');
  if (existsSync(file)) return { key: (await readFile(file, 'utf8')).trim(), source: 'file', file };
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32).toString('hex');
  // 'wx': never overwrite a key another instance wrote a moment ago.
  try {
    await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch {
    return { key: (await readFile(file, 'utf8')).trim(), source: 'file', file };
  }
  return { key, source: 'generated', file };
}
