/** Unit: resolveRecordingPath keeps every reported recording path inside RECORDINGS_DIR. */
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { resolveRecordingPath } from '../../src/recordings/recording-path.js';

describe('recording path', () => {
  let root: string;
  let dir: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'rcrm-recpath-'));
    dir = path.join(root, 'monitor');
    await mkdir(path.join(dir, '2026'), { recursive: true });
    await writeFile(path.join(dir, 'in-20261126-041617-+375291234567-1795666576.152.wav'), 'x');
    await writeFile(path.join(root, 'secret.txt'), 'secret');
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  // GIVEN MIXMONITOR_FILENAME as Asterisk reports it WHEN resolved THEN the name relative to the directory, + kept
  it('accepts an absolute path inside the directory', async () => {
    const reported = path.join(dir, 'in-20261126-041617-+375291234567-1795666576.152.wav');
    expect(await resolveRecordingPath(dir, reported)).to.equal('in-20261126-041617-+375291234567-1795666576.152.wav');
  });

  // GIVEN a CDR(recordingfile)-style relative name, in a subdirectory too WHEN resolved THEN joined under the directory
  it('accepts relative names', async () => {
    expect(await resolveRecordingPath(dir, 'in-1.wav')).to.equal('in-1.wav');
    expect(await resolveRecordingPath(dir, '2026/out-2.wav')).to.equal('2026/out-2.wav');
    expect(await resolveRecordingPath(dir, './2026//out-2.wav')).to.equal('2026/out-2.wav');
  });

  // GIVEN a name with .. segments, even ones that would land back inside WHEN resolved THEN refused
  it('refuses .. traversal', async () => {
    expect(await resolveRecordingPath(dir, '../secret.txt')).to.equal(null);
    expect(await resolveRecordingPath(dir, '2026/../../secret.txt')).to.equal(null);
    expect(await resolveRecordingPath(dir, '2026/../in-1.wav')).to.equal(null);
    expect(await resolveRecordingPath(dir, `${dir}/../secret.txt`)).to.equal(null);
    expect(await resolveRecordingPath(dir, '..\\secret.txt')).to.equal(null);
  });

  // GIVEN percent-encoded traversal WHEN resolved THEN it is a literal file name inside the directory, never decoded
  it('does not decode encoded traversal', async () => {
    expect(await resolveRecordingPath(dir, '%2e%2e%2fsecret.txt')).to.equal('%2e%2e%2fsecret.txt');
    expect(await resolveRecordingPath(dir, '..%2fsecret.txt')).to.equal('..%2fsecret.txt');
  });

  // GIVEN absolute paths outside the directory (including a sibling sharing its prefix) WHEN resolved THEN refused
  it('refuses absolute paths outside', async () => {
    expect(await resolveRecordingPath(dir, '/etc/passwd')).to.equal(null);
    expect(await resolveRecordingPath(dir, path.join(root, 'secret.txt'))).to.equal(null);
    expect(await resolveRecordingPath(dir, `${dir}-other/x.wav`)).to.equal(null);
    expect(await resolveRecordingPath(dir, dir)).to.equal(null);
    expect(await resolveRecordingPath(dir, `${dir}/`)).to.equal(null);
  });

  // GIVEN symlinks inside the directory pointing out (file, directory, dangling) WHEN resolved THEN refused
  it('refuses symlinks that escape', async () => {
    await symlink(path.join(root, 'secret.txt'), path.join(dir, 'link.wav'));
    await symlink(root, path.join(dir, 'up'));
    await symlink(path.join(root, 'not-yet.wav'), path.join(dir, 'dangling.wav'));
    expect(await resolveRecordingPath(dir, 'link.wav')).to.equal(null);
    expect(await resolveRecordingPath(dir, path.join(dir, 'link.wav'))).to.equal(null);
    expect(await resolveRecordingPath(dir, 'up/secret.txt')).to.equal(null);
    expect(await resolveRecordingPath(dir, 'up/new.wav')).to.equal(null);
    expect(await resolveRecordingPath(dir, 'dangling.wav')).to.equal(null);
  });

  // GIVEN a symlink that stays inside WHEN resolved THEN accepted
  it('accepts symlinks that stay inside', async () => {
    await symlink(path.join(dir, 'in-20261126-041617-+375291234567-1795666576.152.wav'), path.join(dir, '2026', 'l.wav'));
    expect(await resolveRecordingPath(dir, '2026/l.wav')).to.equal('2026/l.wav');
  });

  // GIVEN RECORDINGS_DIR is itself a symlink WHEN Asterisk reports either spelling THEN both resolve inside
  it('follows a symlinked recordings directory', async () => {
    const alias = path.join(root, 'alias');
    await symlink(dir, alias);
    expect(await resolveRecordingPath(alias, path.join(alias, 'a.wav'))).to.equal('a.wav');
    expect(await resolveRecordingPath(alias, path.join(dir, 'a.wav'))).to.equal('a.wav');
    expect(await resolveRecordingPath(alias, 'a.wav')).to.equal('a.wav');
  });

  // GIVEN NUL bytes or an empty name WHEN resolved THEN refused
  it('refuses NUL and empty names', async () => {
    expect(await resolveRecordingPath(dir, 'in-1.wav\0.txt')).to.equal(null);
    expect(await resolveRecordingPath(dir, `${dir}/a\0`)).to.equal(null);
    expect(await resolveRecordingPath(dir, '')).to.equal(null);
    expect(await resolveRecordingPath(dir, '   ')).to.equal(null);
  });

  // GIVEN a file that does not exist yet inside the directory WHEN resolved THEN accepted (the state check waits for it)
  it('accepts files not written yet', async () => {
    expect(await resolveRecordingPath(dir, path.join(dir, 'later.wav'))).to.equal('later.wav');
    expect(await resolveRecordingPath(dir, 'new-dir/later.wav')).to.equal('new-dir/later.wav');
  });
});
