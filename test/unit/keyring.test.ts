/**
 * The keyring's formats (src/secrets/keyring.ts, secret-box.ts): `v2:<keyId>:…` sealed values and `<keyId>.<sig>`
 * tokens name their key; `v1:` values and bare signatures from before the keyring belong to the legacy key;
 * a retired key opens and verifies nothing; the keyring file refuses edits.
 */
import { expect } from 'chai';
import { SecretError } from '../../src/lib/errors.js';
import { createRecordingLinks } from '../../src/recordings/recording-links.js';
import { keyIdOf } from '../../src/secrets/key-derivation.js';
import {
  parseKeyring, serializeKeyring, singleKeyring, withNewCurrentKey, withRetiredKey, type Keyring,
} from '../../src/secrets/keyring.js';
import { createKeyringBox, createSecretBox, parseSealed, parseToken } from '../../src/secrets/secret-box.js';
import { legacySeal, legacySign } from '../helpers/legacy-secrets.js';

const OLD = 'o'.repeat(40);
const NEW = 'n'.repeat(43);
const NOW = new Date('2026-12-06T21:00:00Z');

function rotated(): Keyring {
  return withNewCurrentKey(singleKeyring(OLD, '2026-01-01T00:00:00.000Z'), NEW, NOW);
}

describe('keyring formats', () => {
  // GIVEN a key WHEN its id is computed THEN 12 hex digits, stable, different per key
  it('names keys by a 12-digit id', () => {
    expect(keyIdOf(OLD)).to.match(/^[0-9a-f]{12}$/).and.equal(keyIdOf(OLD)).and.not.equal(keyIdOf(NEW));
    expect(createSecretBox(OLD).currentKeyId).to.equal(keyIdOf(OLD));
  });

  // GIVEN one key WHEN sealing and signing THEN the results name it
  it('seals as v2:<keyId>: and signs as <keyId>.<signature>', () => {
    const box = createSecretBox(OLD);
    const sealed = box.seal('api-key');
    expect(sealed).to.match(new RegExp(`^v2:${keyIdOf(OLD)}:[A-Za-z0-9+/=]+$`));
    expect(box.open(sealed)).to.equal('api-key');
    const token = box.sign('recording', 'p');
    expect(token).to.match(new RegExp(`^${keyIdOf(OLD)}\\.[A-Za-z0-9_-]{32}$`));
    expect(parseToken(token, 'x')).to.deep.equal({ keyId: keyIdOf(OLD), signature: token.slice(13) });
    expect(parseSealed(sealed, 'x')?.keyId).to.equal(keyIdOf(OLD));
  });

  // GIVEN values made before the keyring WHEN opened and verified THEN the legacy key serves them, before and after rotation
  it('keeps v1 values and bare signatures working with the legacy key', () => {
    const v1 = legacySeal(OLD, 'old-api-key');
    const bare = legacySign(OLD, 'webhook', '0367');
    for (const box of [createSecretBox(OLD), createKeyringBox(rotated())]) {
      expect(box.open(v1)).to.equal('old-api-key');
      expect(box.verify('webhook', '0367', bare)).to.equal(true);
      expect(box.verify('webhook', '0368', bare)).to.equal(false);
    }
    expect(parseSealed(v1, 'legacy0000id')).to.deep.include({ keyId: 'legacy0000id' });
    expect(() => createSecretBox(NEW).open(v1)).to.throw(SecretError);
  });

  // GIVEN a rotated keyring WHEN sealing and signing THEN the new key is used; the old key's values still open
  it('uses the current key for new values and every active key for old ones', () => {
    const before = createSecretBox(OLD);
    const sealedBefore = before.seal('k1');
    const tokenBefore = before.sign('recording', 'p');
    const box = createKeyringBox(rotated());
    expect(box.currentKeyId).to.equal(keyIdOf(NEW));
    expect(box.seal('k2')).to.match(new RegExp(`^v2:${keyIdOf(NEW)}:`));
    expect(box.sign('recording', 'p')).to.match(new RegExp(`^${keyIdOf(NEW)}\\.`));
    expect(box.open(sealedBefore)).to.equal('k1');
    expect(box.verify('recording', 'p', tokenBefore)).to.equal(true);
    expect(box.hash('client-id', 'c')).to.equal(createSecretBox(NEW).hash('client-id', 'c'));
  });

  // GIVEN the old key retired WHEN its values come back THEN they are refused with the key id named
  it('refuses what a retired key made', () => {
    const before = createSecretBox(OLD);
    const ring = withRetiredKey(rotated(), keyIdOf(OLD), NOW);
    const box = createKeyringBox(ring);
    expect(() => box.open(before.seal('x'))).to.throw(SecretError, new RegExp(`key id ${keyIdOf(OLD)}`));
    expect(box.verify('recording', 'p', before.sign('recording', 'p'))).to.equal(false);
    expect(box.verify('recording', 'p', legacySign(OLD, 'recording', 'p'))).to.equal(false);
    expect(JSON.stringify(ring)).not.to.contain(OLD);
  });

  // GIVEN a value naming a key this process does not know WHEN reload finds it THEN opened; reload is rate-limited
  it('reloads the keyring for an unknown key id, at most once per interval', () => {
    let reloads = 0;
    let t = 0;
    const box = createKeyringBox(singleKeyring(OLD, NOW.toISOString()), {
      reload: () => (reloads++, rotated()),
      now: () => t,
    });
    const fromNew = createSecretBox(NEW);
    expect(box.open(fromNew.seal('s'))).to.equal('s');
    expect(box.currentKeyId).to.equal(keyIdOf(NEW));
    expect(box.verify('r', 'p', `${'a'.repeat(12)}.${'b'.repeat(32)}`)).to.equal(false);
    expect(reloads).to.equal(1);
    t += 6_000;
    expect(box.verify('r', 'p', `${'c'.repeat(12)}.${'b'.repeat(32)}`)).to.equal(false);
    expect(reloads).to.equal(2);
    t += 6_000;
    expect(box.refresh(), 'the current key did not change').to.equal(false);
  });

  // GIVEN a keyring WHEN written and read back THEN identical; edited material or ids are refused
  it('round-trips the file and refuses an edited one', () => {
    const ring = withRetiredKey(rotated(), keyIdOf(OLD), NOW);
    expect(parseKeyring(serializeKeyring(ring), 'f')).to.deep.equal(ring);
    const text = serializeKeyring(rotated());
    expect(() => parseKeyring(text.replace(NEW, 'm'.repeat(43)), 'f')).to.throw(SecretError, /does not match its id/);
    expect(() => parseKeyring('{}', 'f')).to.throw(SecretError, /format/);
    expect(() => parseKeyring('nope', 'f')).to.throw(SecretError, /not JSON/);
    const noCurrent = serializeKeyring({ ...ring, current: keyIdOf(OLD) });
    expect(() => parseKeyring(noCurrent, 'f')).to.throw(SecretError, /current/);
  });

  // GIVEN recording links from before and after a rotation WHEN parsed by the rotated service THEN both resolve
  it('parses recording links with and without a key id', () => {
    const make = (box: ReturnType<typeof createSecretBox>) => createRecordingLinks({ publicUrl: 'https://x', recordingsDir: '/tmp', box });
    const oldLink = make(createSecretBox(OLD)).urlFor('0367', 'in-1.wav').split('/').pop() ?? '';
    const payload = oldLink.split('.')[0] ?? '';
    const bareLink = `${payload}.${legacySign(OLD, 'recording', payload)}.wav`;
    const rotatedLinks = make(createKeyringBox(rotated()));
    const newLink = rotatedLinks.urlFor('0367', 'in-1.wav').split('/').pop() ?? '';
    expect(newLink).to.contain(`.${keyIdOf(NEW)}.`);
    for (const t of [oldLink, bareLink, newLink]) expect(rotatedLinks.parse(t)).to.deep.equal({ enterprise: '0367', relativePath: 'in-1.wav' });
    expect(rotatedLinks.parse(newLink.replace(keyIdOf(NEW), keyIdOf(OLD)))).to.equal(null);
  });
});
