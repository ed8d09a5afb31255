import { expect } from 'chai';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/lib/errors.js';

describe('config', () => {
  // GIVEN no environment WHEN parsed THEN the documented defaults apply
  it('has working defaults with no configuration', () => {
    const c = loadConfig({}, '/srv/app');
    expect(c.databaseUrl).to.equal(null);
    expect(c.agiPort).to.equal(4573);
    expect(c.httpPort).to.equal(8019);
    expect(c.lookupBudgetMs).to.equal(1500);
    expect(c.dataDir).to.equal('/srv/app/data');
    expect(c.publicUrl).to.equal('http://localhost:8019');
    expect(c.secretKeyringFile).to.equal(null);
    expect(Object.isFrozen(c)).to.equal(true);
  });

  // GIVEN SECRET_KEYRING_FILE relative to the working directory WHEN parsed THEN an absolute path
  it('resolves the keyring file', () => {
    expect(loadConfig({ SECRET_KEYRING_FILE: 'conf/keyring.json' }, '/srv/app').secretKeyringFile).to.equal('/srv/app/conf/keyring.json');
  });

  // GIVEN a zero port WHEN parsed THEN zero is kept, not replaced by the default
  it('keeps 0 instead of falling back to the default', () => {
    expect(loadConfig({ AGI_PORT: '0', HTTP_PORT: '0' }).agiPort).to.equal(0);
  });

  // GIVEN several bad variables WHEN parsed THEN every problem is reported at once
  it('reports every invalid variable together', () => {
    try {
      loadConfig({ AGI_PORT: 'x', LOOKUP_BUDGET_MS: '5', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x', SECRET_KEY: 'short' });
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['AGI_PORT', 'LOOKUP_BUDGET_MS', 'LOG_LEVEL', 'DATABASE_URL', 'SECRET_KEY']) {
        expect(problems).to.contain(name);
      }
    }
  });

  // GIVEN the reconciler's variables WHEN unset, set, 0 or out of range THEN defaults, values, off, refused
  it('reads the reconciler settings', () => {
    expect(loadConfig({}).reconcile).to.deep.equal({ intervalMs: 60_000, windowMs: 86_400_000, graceMs: 60_000 });
    expect(loadConfig({ RECONCILE_INTERVAL_MS: '0', RECONCILE_WINDOW_MS: '3600000', RECONCILE_GRACE_MS: '0' }).reconcile).to.deep.equal({
      intervalMs: 0,
      windowMs: 3_600_000,
      graceMs: 0,
    });
    expect(() => loadConfig({ RECONCILE_WINDOW_MS: '1000', RECONCILE_GRACE_MS: '-1' })).to.throw(ConfigError, /RECONCILE_WINDOW_MS[\s\S]*RECONCILE_GRACE_MS|RECONCILE_GRACE_MS[\s\S]*RECONCILE_WINDOW_MS/);
  });

  // GIVEN PUBLIC_URL with a trailing slash WHEN parsed THEN it is trimmed so paths join cleanly
  it('trims the public URL', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://pbx.example.com/' }).publicUrl).to.equal('https://pbx.example.com');
  });
});

describe('config: recordings', () => {
  // GIVEN no recording variables WHEN parsed THEN MP3 on, 30 s wait, WAV kept, hourly retention sweep
  it('has the documented defaults', () => {
    expect(loadConfig({}).recordings).to.deep.equal({
      mp3: true, mp3Kbps: 32, mp3WaitMs: 30_000, mp3Workers: 1, mp3MaxQueued: 50, keepWav: true, scanMs: 1_000, retentionIntervalMs: 3_600_000,
    });
  });

  // GIVEN on/off words and numbers WHEN parsed THEN read as such; a word that is neither is reported
  it('reads on/off settings and refuses other words', () => {
    const c = loadConfig({ RECORDING_MP3: 'off', RECORDING_KEEP_WAV: 'no', RECORDING_MP3_WAIT_MS: '0', RECORDING_RETENTION_INTERVAL_MS: '0' });
    expect(c.recordings).to.deep.include({ mp3: false, keepWav: false, mp3WaitMs: 0, retentionIntervalMs: 0 });
    expect(() => loadConfig({ RECORDING_MP3: 'maybe' })).to.throw(ConfigError, /RECORDING_MP3 must be on or off/);
  });
});
