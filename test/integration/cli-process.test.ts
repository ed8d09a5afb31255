/**
 * The real `retailcrm-agi` process (node -- dist/src/cli.js): its exit status and the one line it writes on
 * stderr, for refused input (2), failures (1) and success (0); the environment file; the SECRET_KEY check.
 */
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCliProcess, type CliResult } from '../helpers/cli-process.js';
import { freePort } from '../helpers/ports.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const SECRET = 'cli-process-secret-key-0123456789abcdef';


/** Exactly one line on stderr besides the "database: …" line, and it starts with "error:". */
function errorLine(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('database: '));
  expect(lines, r.stderr).to.have.length(1);
  expect(lines[0]).to.match(/^error: /);
  return lines[0] ?? '';
}

describe('retailcrm-agi process: exit status and messages', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let dir: string;
  let env: Record<string, string>;
  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-cli-'));
    env = { DATABASE_URL: db.url, SECRET_KEY: SECRET, DATA_DIR: path.join(dir, 'data') };
  });
  after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  // GIVEN a valid configuration WHEN an enterprise is added and listed THEN exit 0, and stderr names the database
  it('exits 0 on success and says which database it used, password masked', async () => {
    const url = new URL(db.url);
    if (url.password === '') url.password = 'hunter2secret'; // trust authentication ignores it
    const add = await runCliProcess(
      ['enterprise', 'add', '--number', '0367', '--crm-url', 'https://shop.retailcrm.ru', '--api-key', 'abcdefghijkl12345', '--country', 'BY', '--skip-check'],
      { env: { ...env, DATABASE_URL: url.toString() } },
    );
    expect(add.code, add.stderr).to.equal(0);
    expect(add.stdout).to.contain('enterprise 0367 added');
    expect(add.stderr).to.match(/^database: postgres:\/\/\w+:\*\*\*@127\.0\.0\.1/m).and.not.contain(decodeURIComponent(url.password));
    const list = await runCliProcess(['enterprise', 'list'], { env });
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout).to.contain('0367');
  });

  const refusals: [string, string[], RegExp][] = [
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['no command', [], /no command given/],
    ['an unknown flag', ['enterprise', 'list', '--bogus'], /bogus/],
    ['a missing argument', ['extension', 'set', '--enterprise', '0367', '--ext', '101'], /--user-id is required/],
    ['an unknown enterprise', ['enterprise', 'show', '--number', '4242'], /unknown enterprise "4242"/],
    ['a bad extension', ['extension', 'set', '--enterprise', '0367', '--ext', '10,1', '--user-id', '7'], /--ext/],
    ['an --env-file without a name', ['enterprise', 'list', '--env-file'], /--env-file needs a file name/],
  ];
  for (const [label, argv, message] of refusals) {
    // GIVEN refused input WHEN the process runs THEN exit status 2 and one line saying why
    it(`exits 2 on ${label}`, async () => {
      const r = await runCliProcess(argv, { env });
      expect(r.code, r.stderr).to.equal(2);
      expect(errorLine(r)).to.match(message);
    });
  }

  // GIVEN invalid configuration WHEN any command runs THEN exit 2 and every problem on one line
  it('exits 2 on bad configuration', async () => {
    const r = await runCliProcess(['enterprise', 'list'], { env: { ...env, AGI_PORT: 'abc', LOG_LEVEL: 'loud' } });
    expect(r.code).to.equal(2);
    expect(errorLine(r)).to.match(/invalid configuration: /).and.match(/AGI_PORT/).and.match(/LOG_LEVEL/);
  });

  // GIVEN a database that does not answer WHEN a command runs THEN exit 1 and the masked URL with the reason
  it('exits 1 when the database is unreachable', async () => {
    const url = `postgres://rcrm:topsecret@127.0.0.1:${await freePort()}/rcrm`;
    const r = await runCliProcess(['enterprise', 'list'], { env: { ...env, DATABASE_URL: url } });
    expect(r.code).to.equal(1);
    const line = errorLine(r);
    expect(line).to.match(/cannot use the database postgres:\/\/rcrm:\*\*\*@127\.0\.0\.1:\d+\/rcrm: .*ECONNREFUSED/);
    expect(r.stderr).to.not.contain('topsecret');
  });

  // GIVEN a database set up with one key WHEN a command runs with another THEN exit 1 with what to do, nothing changed
  it('exits 1 on a wrong SECRET_KEY, with what to do', async () => {
    const r = await runCliProcess(['enterprise', 'list'], { env: { ...env, SECRET_KEY: 'another-secret-key-0123456789abcdefghij' } });
    expect(r.code).to.equal(1);
    expect(errorLine(r)).to.match(/SECRET_KEY \(from the environment, key id \w+\) is not the key this database was set up with \(key id \w+\).*Start with the original SECRET_KEY/);
    // The same with no SECRET_KEY at all: the key generated for the occasion is not left behind.
    const none = await runCliProcess(['enterprise', 'list'], { env: { DATABASE_URL: db.url, DATA_DIR: path.join(dir, 'other') } });
    expect(none.code).to.equal(1);
    expect(errorLine(none)).to.match(/generated just now in .*because SECRET_KEY is not set/);
    const again = await runCliProcess(['enterprise', 'list'], { env });
    expect(again.code, again.stderr).to.equal(0);
  });

  // GIVEN a database set up with one key WHEN serve starts with another THEN it stops at start with exit 1, serving nothing
  it('serve exits 1 at start on a wrong SECRET_KEY', async () => {
    const r = await runCliProcess(['serve'], {
      env: { ...env, SECRET_KEY: 'another-secret-key-0123456789abcdefghij', AGI_HOST: '127.0.0.1', AGI_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' },
    });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error: '))).to.have.length(1);
    expect(r.stderr).to.match(/^error: SECRET_KEY .* is not the key this database was set up with/m).and.not.contain('retailcrm-agi started');
  });

  // GIVEN the service's environment file WHEN passed with --env-file (anywhere) or RCRM_ENV_FILE THEN its database and key are used
  it('reads the environment file given with --env-file or RCRM_ENV_FILE', async () => {
    const file = path.join(dir, 'env');
    await writeFile(file, `# as /etc/retailcrm-agi/env\nDATABASE_URL=${db.url}\nSECRET_KEY="${SECRET}"\nDATA_DIR=${path.join(dir, 'data')}\n`);
    for (const [args, extra] of [
      [['--env-file', file, 'enterprise', 'list'], {}],
      [['enterprise', 'list', `--env-file=${file}`], {}],
      [['enterprise', 'list'], { RCRM_ENV_FILE: file }],
    ] as const) {
      const r = await runCliProcess(args, { env: extra });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('0367');
      expect(r.stderr).to.contain(`(configuration from ${file})`);
    }
    // The environment wins over the file.
    const overridden = await runCliProcess(['enterprise', 'list', '--env-file', file], { env: { SECRET_KEY: 'another-secret-key-0123456789abcdefghij' } });
    expect(overridden.code).to.equal(1);
    const missing = await runCliProcess(['enterprise', 'list', '--env-file', path.join(dir, 'nope')]);
    expect(missing.code).to.equal(2);
    expect(errorLine(missing)).to.match(/cannot read the environment file .*nope/);
  });
});
