/**
 * The service as an operator runs it, for the PBX tier: the real `retailcrm-agi` process (test/helpers/
 * cli-process.ts), set up with its own CLI, started with `serve` and stopped with SIGTERM (exit 0) or kill -9.
 */
import { waitFor } from '../helpers/async.js';
import { runCliProcess, startServe, type LogLine, type ServeProcess } from '../helpers/cli-process.js';

/** Runs the CLI and fails with its output unless it exits 0. */
export async function cliOk(args: readonly string[], env: Readonly<Record<string, string>>): Promise<string> {
  const r = await runCliProcess(args, { env }, 60_000);
  if (r.code !== 0) throw new Error(`retailcrm-agi ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}


export class ServiceProcess {
  private constructor(
    private readonly serve: ServeProcess,
    readonly httpPort: number,
  ) {}

  /** Starts `serve` and waits until /health answers. */
  static async start(env: Readonly<Record<string, string>>): Promise<ServiceProcess> {
    const httpPort = Number(env['HTTP_PORT']);
    const serve = startServe({ env });
    const service = new ServiceProcess(serve, httpPort);
    await waitFor('the service to answer /health', async () => {
      if (!service.running) throw new Error(`the service exited:\n${serve.stderr().slice(-2000)}`);
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
    return this.serve.child.exitCode === null && this.serve.child.signalCode === null;
  }

  /** Parsed JSON log lines (stderr), in order. */
  get logs(): readonly LogLine[] {
    return this.serve.lines;
  }

  /** SIGTERM and wait; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.running) this.serve.child.kill('SIGTERM');
    return (await this.serve.exited(60_000)).code;
  }

  /** kill -9: the service dies mid-call. */
  async kill(): Promise<void> {
    await this.serve.kill();
  }
}
