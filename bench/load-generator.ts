/**
 * The load generator in its own process (issue 11): the simulated Asterisk sessions run in a child process, so the
 * service's thread is measured alone. `LoadGenerator.start()` forks this file; each plan is driven there with
 * agi-client.ts and answered with the latencies. Callers are described, not passed as functions: a fixed number,
 * or a sequence from `base` (phone(base + i)). A plan with `call` drives whole calls: /incoming, ringing, /hangup.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { drive, driveUnits, runSession } from './agi-client.js';

export interface LoadPlan {
  readonly port: number;
  /** The AGI script with its query; `{uid}` becomes the session's uniqueid (the shipped dialplan's linkedid). */
  readonly script: string;
  readonly sessions: number;
  readonly concurrency: number;
  readonly callers: { readonly kind: 'fixed'; readonly index: number } | { readonly kind: 'sequence'; readonly base: number; readonly modulo?: number };
  readonly uidPrefix: string;
  /** Whole calls: after the script's session, `ringMs` of ringing, then `hangupScript` with these variables. */
  readonly call?: { readonly ringMs: number; readonly hangupScript: string; readonly hangupVariables: Readonly<Record<string, string>> };
}

export interface LoadResult {
  readonly latencies: number[];
  readonly wallMs: number;
  /** Whole calls: [uniqueid, epoch ms the /incoming connection was made] (crm-process.ts epochNow's clock). */
  readonly starts?: [string, number][];
  /** Whole calls: each /hangup session's length and AGI commands. */
  readonly hangups?: { ms: number; commands: number }[];
}

/** /incoming as the shipped dialplan calls it: the linkedid (the first channel's uniqueid) and ring codes in the URL. */
export const INCOMING_URL = 'incoming?enterprise=0367&linkedid={uid}&ring=';

export const phone = (i: number): string => `+37529${String(1_000_000 + i).padStart(7, '0')}`;

/** A forked generator, reused for several plans (forking costs ~50 ms). */
export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

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

function callerOf(plan: LoadPlan, i: number): string {
  if (plan.callers.kind === 'fixed') return phone(plan.callers.index);
  return phone(plan.callers.base + (plan.callers.modulo ? i % plan.callers.modulo : i));
}

async function driveCalls(plan: LoadPlan, call: NonNullable<LoadPlan['call']>): Promise<LoadResult> {
  const starts: [string, number][] = [];
  const hangups: { ms: number; commands: number }[] = [];
  const { latencies, wallMs } = await driveUnits(plan.sessions, plan.concurrency, async (i) => {
    const uniqueid = `${plan.uidPrefix}.${i}`;
    const callerId = callerOf(plan, i);
    const incoming = await runSession({
      port: plan.port,
      script: plan.script.replaceAll('{uid}', uniqueid),
      callerId,
      uniqueid,
      onConnect: () => starts.push([uniqueid, performance.timeOrigin + performance.now()]),
    });
    if (call.ringMs > 0) await new Promise((r) => setTimeout(r, call.ringMs));
    hangups.push(
      await runSession({
        port: plan.port,
        script: call.hangupScript,
        callerId,
        uniqueid,
        variables: { ...call.hangupVariables, 'CHANNEL(linkedid)': uniqueid },
      }),
    );
    return incoming.ms;
  });
  return { latencies, wallMs, starts, hangups };
}

async function serve(): Promise<void> {
  process.on('message', (plan: LoadPlan) => {
    const work = plan.call
      ? driveCalls(plan, plan.call)
      : drive(plan.sessions, plan.concurrency, (i) => {
          const uniqueid = `${plan.uidPrefix}.${i}`;
          return { port: plan.port, script: plan.script.replaceAll('{uid}', uniqueid), callerId: callerOf(plan, i), uniqueid };
        });
    work
      .then((result) => process.send?.({ ok: true, result }))
      .catch((err: unknown) => process.send?.({ ok: false, error: String(err) }));
  });
}

if (process.argv.includes('--child')) await serve();
