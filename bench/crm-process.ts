/**
 * The fake RetailCRM in a process of its own, for the figures where the service's thread must be measured alone
 * (a real RetailCRM is another machine): forked by RemoteFakeCrm, it answers like test/fakes/fake-retailcrm.ts,
 * forgets what it received on `reset` (it keeps every request in memory otherwise), and reports what the
 * benchmarks count: requests, uploaded calls, and when each popup arrived (epoch ms, comparable across processes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FakeRetailCrm, type FakeCustomer } from '../test/fakes/fake-retailcrm.js';

/** Epoch milliseconds with sub-millisecond precision, the same clock in every process of the machine. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

export interface CrmStats {
  readonly requests: number;
  readonly uploadedCalls: number;
  /** call/event of type in/out: [callExternalId, epoch ms received]. */
  readonly popups: [string, number][];
  readonly events: number;
}

type Command = { op: 'reset' } | { op: 'stats' } | { op: 'addCustomers'; customers: Partial<FakeCustomer>[] };

export class RemoteFakeCrm {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly apiKey: string,
  ) {}

  get pid(): number | undefined {
    return this.child.pid;
  }

  static start(): Promise<RemoteFakeCrm> {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: { url: string; apiKey: string }) => resolve(new RemoteFakeCrm(child, m.url, m.apiKey)));
      child.once('exit', (code) => reject(new Error(`fake RetailCRM process exited ${code}`)));
    });
  }

  /** Forgets everything it received and holds (requests, customers, calls); resolves once done. */
  reset(): Promise<void> {
    return this.ask({ op: 'reset' }).then(() => undefined);
  }

  addCustomers(customers: Partial<FakeCustomer>[]): Promise<void> {
    return this.ask({ op: 'addCustomers', customers }).then(() => undefined);
  }

  stats(): Promise<CrmStats> {
    return this.ask({ op: 'stats' }) as Promise<CrmStats>;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await exited;
  }

  /** One command at a time, each answered by one message. */
  private ask(command: Command): Promise<unknown> {
    const next = this.queue.then(
      () =>
        new Promise((resolve) => {
          this.child.once('message', resolve);
          this.child.send(command);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }
}

async function serve(): Promise<void> {
  const crm = await FakeRetailCrm.start();
  process.on('message', (m: Command) => {
    if (m.op === 'reset') {
      crm.reset();
      process.send?.('reset done');
    } else if (m.op === 'addCustomers') {
      for (const c of m.customers) crm.addCustomer(c);
      process.send?.('added');
    } else {
      const requests = crm.requests();
      const events = crm.requests({ path: '/api/v5/telephony/call/event' });
      const seen: [string, number][] = [];
      for (const r of events) {
        const ev = (r.form as Record<string, unknown>)['event'] as Record<string, unknown> | undefined;
        if (ev?.['type'] === 'in' || ev?.['type'] === 'out') seen.push([String(ev['callExternalId']), performance.timeOrigin + r.receivedAtHr]);
      }
      const stats: CrmStats = { requests: requests.length, uploadedCalls: crm.account().calls.size, popups: seen, events: events.length };
      process.send?.(stats);
    }
  });
  process.once('disconnect', () => {
    crm.close().catch((err: unknown) => process.stderr.write(`fake RetailCRM close: ${String(err)}\n`));
  });
  process.send?.({ url: crm.url, apiKey: crm.apiKey });
}

if (process.argv.includes('--child')) await serve();
