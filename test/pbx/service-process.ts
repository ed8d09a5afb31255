/**
 * The service as an operator runs it: the real `retailcrm-agi` process (dist/src/cli.js), set up with its own
 * CLI, its JSON log lines kept for assertions. Used by the PBX tier.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from '../helpers/async.js';
import { projectRoot } from '../helpers/paths.js';

const CLI = path.join(projectRoot, 'dist', 'src', 'cli.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], env: Readonly<Record<string, string>>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI and fails with its output unless it exits 0. */
export async function cliOk(args: readonly string[], env: Readonly<Record<string, string>>): Promise<string> {
  const r = await runCli(args, env);
  if (r.code !== 0) throw new Error(`retailcrm-agi ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A TCP port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export class ServiceProcess {
  /** Parsed JSON log lines (stderr), in order. */
  readonly logs: Record<string, unknown>[] = [];
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcess,
    readonly httpPort: number,
  ) {
    let buffered = '';
    child.stderr?.on('data', (c: Buffer) => {
      buffered += c.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.logs.push({ message: line });
        }
      }
    });
    child.stdout?.resume();
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  }

  /** Starts `serve` and waits until /health answers. */
  static async start(env: Readonly<Record<string, string>>): Promise<ServiceProcess> {
    const httpPort = Number(env['HTTP_PORT']);
    const child = spawn(process.execPath, [CLI, 'serve'], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const service = new ServiceProcess(child, httpPort);
    await waitFor('the service to answer /health', async () => {
      if (!service.running) throw new Error(`the service exited: ${JSON.stringify(service.logs.slice(-5))}`);
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return res.status === 200;
      } catch {
        return false;
      }
    }, 60_000);
    return service;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Log lines whose message matches. */
  logged(message: string | RegExp): Record<string, unknown>[] {
    return this.logs.filter((l) => {
      const m = String(l['message'] ?? '');
      return typeof message === 'string' ? m === message : message.test(m);
    });
  }

  /** SIGTERM and wait; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** kill -9: the service dies mid-call. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
