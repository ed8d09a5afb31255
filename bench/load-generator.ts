/**
 * The load generator in its own process (issue 11): the simulated Asterisk sessions run in a child process, so the
 * service's thread is measured alone. `driveRemote` forks this file and sends one plan; the child drives it with
 * agi-client.ts and answers with the latencies. Callers are described, not passed as functions: a fixed number,
 * or a sequence from `base` (phone(base + i)).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { drive } from './agi-client.js';

export interface LoadPlan {
  readonly port: number;
  readonly script: string;
  readonly sessions: number;
  readonly concurrency: number;
  readonly callers: { readonly kind: 'fixed'; readonly index: number } | { readonly kind: 'sequence'; readonly base: number };
  readonly uidPrefix: string;
}

export interface LoadResult {
  readonly latencies: number[];
  readonly wallMs: number;
}

export const phone = (i: number): string => `+37529${String(1_000_000 + i).padStart(7, '0')}`;

/** A forked generator, reused for several plans (forking costs ~50 ms). */
export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  static start(): LoadGenerator {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new LoadGenerator(child);
  }

  run(plan: LoadPlan): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { ok: true; result: LoadResult } | { ok: false; error: string }): void => {
        this.child.off('exit', onExit);
        if (m.ok) resolve(m.result);
        else reject(new Error(`load generator: ${m.error}`));
      };
      const onExit = (code: number | null): void => {
        this.child.off('message', onMessage);
        reject(new Error(`load generator exited ${code}`));
      };
      this.child.once('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(plan);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await exited;
  }
}

async function serve(): Promise<void> {
  process.on('message', (plan: LoadPlan) => {
    const callerFor = (i: number): string => phone(plan.callers.kind === 'fixed' ? plan.callers.index : plan.callers.base + i);
    drive(plan.sessions, plan.concurrency, (i) => ({ port: plan.port, script: plan.script, callerId: callerFor(i), uniqueid: `${plan.uidPrefix}.${i}` }))
      .then((result) => process.send?.({ ok: true, result }))
      .catch((err: unknown) => process.send?.({ ok: false, error: String(err) }));
  });
}

if (process.argv.includes('--child')) await serve();
