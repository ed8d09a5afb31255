/**
 * The fake RetailCRM in a process of its own, for the figures where the service's thread must be measured alone
 * (a real RetailCRM is another machine): forked by RemoteFakeCrm, it answers like test/fakes/fake-retailcrm.ts
 * and forgets what it received on `reset` (it keeps every request in memory otherwise).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FakeRetailCrm } from '../test/fakes/fake-retailcrm.js';

export class RemoteFakeCrm {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly apiKey: string,
  ) {}

  static start(): Promise<RemoteFakeCrm> {
    const child = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('message', (m: { url: string; apiKey: string }) => resolve(new RemoteFakeCrm(child, m.url, m.apiKey)));
      child.once('exit', (code) => reject(new Error(`fake RetailCRM process exited ${code}`)));
    });
  }

  /** Forgets the requests received so far; resolves once done. */
  reset(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('message', () => resolve());
      this.child.send('reset');
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await exited;
  }
}

async function serve(): Promise<void> {
  const crm = await FakeRetailCrm.start();
  process.on('message', (m: string) => {
    if (m === 'reset') {
      crm.reset();
      process.send?.('reset done');
    }
  });
  process.once('disconnect', () => {
    crm.close().catch((err: unknown) => process.stderr.write(`fake RetailCRM close: ${String(err)}\n`));
  });
  process.send?.({ url: crm.url, apiKey: crm.apiKey });
}

if (process.argv.includes('--child')) await serve();
