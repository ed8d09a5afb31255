/**
 * The real `retailcrm-agi` process for tests (STYLE.md §23): what only the process shows (exit status, messages
 * on stderr, signals, exit hooks) is tested on it. `runCliProcess` runs one command to its end; `startServe`
 * starts `serve`, reads its JSON log lines and lets a test wait for one of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from './paths.js';

export const CLI = path.join(projectRoot, 'dist', 'src', 'cli.js');

export interface ProcessOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Entry script (another checkout's dist/src/cli.js). */
  readonly cli?: string;
  readonly uid?: number;
  readonly gid?: number;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Only what a login shell would have, plus the test's variables: nothing leaks from the test runner. */
function childEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...extra };
}

function spawnCli(args: readonly string[], opts: ProcessOptions): ChildProcess {
  // `--` ends Node's options: Node 20 itself would act on an --env-file meant for us.
  return spawn(process.execPath, ['--', opts.cli ?? CLI, ...args], {
    cwd: opts.cwd ?? projectRoot,
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
}

export async function runCliProcess(args: readonly string[], opts: ProcessOptions = {}, timeoutMs = 30_000): Promise<CliResult> {
  const child = spawnCli(args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`retailcrm-agi ${args.join(' ')} did not end within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface LogLine {
  readonly message?: string;
  readonly [key: string]: unknown;
}

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  /** Everything written to stderr, for failure messages. */
  readonly stderr: () => string;
  /** Resolves with the first log line (seen or to come) whose message matches. */
  waitForLog(message: string | RegExp, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit status; fails after timeoutMs. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills it if still running (test teardown). */
  kill(): Promise<void>;
}

export function startServe(opts: ProcessOptions = {}): ServeProcess {
  const child = spawnCli(['serve'], opts);
  const lines: LogLine[] = [];
  let raw = '';
  const waiters = new Set<() => void>();
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      resolve({ code, signal });
      for (const w of waiters) w();
    }),
  );
  child.stdout?.resume();
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      raw += `${line}\n`;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ message: line });
      }
      for (const w of waiters) w();
    });
  }
  const matches = (l: LogLine, m: string | RegExp): boolean => (typeof m === 'string' ? l.message === m : m.test(l.message ?? ''));
  return {
    child,
    lines,
    stderr: () => raw,
    waitForLog(message, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = lines.find((l) => matches(l, message));
          if (found) {
            finish();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            finish();
            reject(new Error(`serve exited (${child.exitCode ?? child.signalCode}) before logging ${String(message)}:\n${raw}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out waiting for the log line ${String(message)}:\n${raw}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async exited(timeoutMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`serve did not exit within ${timeoutMs} ms:\n${raw}`)), timeoutMs);
      });
      try {
        return await Promise.race([exit, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}
