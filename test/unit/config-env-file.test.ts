/** The environment file (--env-file / RCRM_ENV_FILE, the systemd unit's EnvironmentFile=) merged by loadConfig. */
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/lib/errors.js';

describe('config: environment file', () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-envfile-'));
    file = path.join(dir, 'env');
    await writeFile(
      file,
      [
        '# /etc/retailcrm-agi/env',
        'DATABASE_URL=postgres://rcrm:p%40ss@db.internal:5432/rcrm',
        'export SECRET_KEY="0123456789abcdef0123456789abcdef-quoted"',
        "PUBLIC_URL='https://pbx.example.com' # a comment",
        'AGI_PORT=4574',
        'HTTP_PORT=',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // GIVEN an env file WHEN given as an option THEN its variables are read with Node's parser (quotes, comments, export)
  it('reads the file given with --env-file', () => {
    const c = loadConfig({}, '/srv', { envFile: file });
    expect(c.envFile).to.equal(file);
    expect(c.databaseUrl).to.equal('postgres://rcrm:p%40ss@db.internal:5432/rcrm');
    expect(c.secretKey).to.equal('0123456789abcdef0123456789abcdef-quoted');
    expect(c.publicUrl).to.equal('https://pbx.example.com');
    expect(c.agiPort).to.equal(4574);
    expect(c.httpPort).to.equal(8019);
  });

  // GIVEN RCRM_ENV_FILE (relative) WHEN parsed THEN the file is found from the working directory
  it('reads RCRM_ENV_FILE, relative to the working directory', () => {
    expect(loadConfig({ RCRM_ENV_FILE: 'env' }, dir).envFile).to.equal(file);
    expect(loadConfig({ RCRM_ENV_FILE: 'env' }, dir).agiPort).to.equal(4574);
    expect(loadConfig({ RCRM_ENV_FILE: '/nonexistent' }, dir, { envFile: file }).envFile, '--env-file wins').to.equal(file);
  });

  // GIVEN a variable both in the environment and in the file WHEN parsed THEN the environment wins (an empty one does not)
  it('lets the environment win over the file', () => {
    const c = loadConfig({ AGI_PORT: '5000', PUBLIC_URL: ' ' }, '/srv', { envFile: file });
    expect(c.agiPort).to.equal(5000);
    expect(c.publicUrl).to.equal('https://pbx.example.com');
  });

  // GIVEN no env file WHEN parsed THEN nothing is read
  it('reads no file by default', () => {
    expect(loadConfig({}, '/srv').envFile).to.equal(null);
  });

  // GIVEN a missing file WHEN parsed THEN it is a configuration problem naming the file, with the others
  it('reports a missing file as a configuration problem', () => {
    try {
      loadConfig({ AGI_PORT: 'x' }, dir, { envFile: 'missing.env' });
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).problems.join('\n')).to.contain(`cannot read the environment file ${path.join(dir, 'missing.env')}`).and.contain('AGI_PORT');
    }
  });
});
