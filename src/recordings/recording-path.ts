/**
 * Which recording files we may touch: turns the path Asterisk reported (absolute MIXMONITOR_FILENAME or a
 * relative CDR(recordingfile) name) into a path relative to RECORDINGS_DIR, or null when it is not safely inside.
 * Symlinks are resolved where they exist, so a link inside the directory cannot expose a file outside it.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

function isInside(dir: string, candidate: string): boolean {
  const rel = path.relative(dir, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function realDirOf(recordingsDir: string): Promise<string> {
  const resolved = path.resolve(recordingsDir);
  try {
    return await fs.realpath(resolved);
  } catch (err) {
    if (isMissing(err)) return resolved;
    throw err;
  }
}

/**
 * The real location of `abs`: realpath of the file when it exists, otherwise realpath of its deepest existing
 * ancestor plus the missing tail. null for a dangling symlink (its target could appear anywhere later).
 */
async function realLocation(abs: string): Promise<string | null> {
  try {
    return await fs.realpath(abs);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  try {
    await fs.lstat(abs);
    return null; // exists as a link whose target does not
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  const parent = path.dirname(abs);
  if (parent === abs) return abs;
  const realParent = await realLocation(parent);
  return realParent === null ? null : path.join(realParent, path.basename(abs));
}

/**
 * `reported` → a POSIX path relative to `recordingsDir`, or null when it is empty, contains NUL or a `..`
 * segment, lies outside the directory, or reaches outside through a symlink. The file need not exist yet.
 */
export async function resolveRecordingPath(recordingsDir: string, reported: string): Promise<string | null> {
  if (reported.trim() === '' || reported.includes('\0')) return null;
  if (reported.split(/[\\/]/).includes('..')) return null;
  const dir = path.resolve(recordingsDir);
  const realDir = await realDirOf(dir);

  let rel: string;
  if (path.isAbsolute(reported)) {
    const abs = path.resolve(reported);
    // Asterisk reports the path it was configured with; the directory may be that path or its real location.
    if (isInside(dir, abs)) rel = path.relative(dir, abs);
    else if (isInside(realDir, abs)) rel = path.relative(realDir, abs);
    else return null;
  } else {
    const abs = path.resolve(dir, reported);
    if (!isInside(dir, abs)) return null;
    rel = path.relative(dir, abs);
  }

  const real = await realLocation(path.join(realDir, rel));
  if (real === null || !isInside(realDir, real)) return null;
  return rel.split(path.sep).join('/');
}
