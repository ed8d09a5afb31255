/**
 * systemd/retailcrm-agi.service: what an operator's host needs from it (optional paths, node from PATH, the
 * environment file shared with the CLI, a stop timeout above the drains), and `systemd-analyze verify` on it
 * where systemd is installed (Debian package `systemd`).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, SERVICE_ENV_FILE } from '../../src/config/config.js';
import { projectRoot } from '../helpers/paths.js';

const UNIT = path.join(projectRoot, 'systemd', 'retailcrm-agi.service');
const run = promisify(execFile);

function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) map.set(m[1], [...(map.get(m[1]) ?? []), m[2]]);
  }
  return map;
}

describe('systemd unit', () => {
  // GIVEN the shipped unit WHEN read THEN optional paths are optional, node comes from PATH, the env file is the CLI's
  it('starts on a host without Asterisk, finds node in PATH, shares the CLI environment file', async () => {
    const unit = settings(await readFile(UNIT, 'utf8'));
    expect(unit.get('ReadOnlyPaths')).to.deep.equal(['-/var/spool/asterisk/monitor']);
    expect(unit.get('EnvironmentFile')).to.deep.equal([`-${SERVICE_ENV_FILE}`]);
    expect(unit.get('ExecStart')?.[0]).to.match(/^\/usr\/bin\/env node -- \S+\/dist\/src\/cli\.js serve$/);
  });

  // GIVEN the default drains WHEN systemd stops the service THEN it waits longer than both drains and PostgreSQL's stop
  it('waits longer than the drains before killing', async () => {
    const unit = settings(await readFile(UNIT, 'utf8'));
    const drainSeconds = loadConfig({}).shutdownDrainMs / 1000;
    expect(Number(unit.get('TimeoutStopSec')?.[0])).to.be.greaterThan(2 * drainSeconds + 20);
  });

  // GIVEN systemd-analyze WHEN it verifies the unit THEN it reports nothing about our file
  it('passes systemd-analyze verify', async function () {
    const found = await run('systemd-analyze', ['--version']).then(() => true, () => false);
    if (!found) this.skip(); // systemd-analyze is not installed here (Debian: apt-get install systemd)
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-unit-'));
    try {
      const copy = path.join(dir, 'retailcrm-agi.service');
      await copyFile(UNIT, copy);
      const { stderr } = await run('systemd-analyze', ['verify', '--man=no', copy], { timeout: 30_000 });
      expect(stderr.split('\n').filter((l) => l.includes('retailcrm-agi.service'))).to.deep.equal([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
