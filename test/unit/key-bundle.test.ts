/** The passphrase-sealed key bundle (src/backup/key-bundle.ts): the whole keyring now, SECRET_KEY alone before. */
import { expect } from 'chai';
import { openKeyBundle, sealKeyring, sealSecretKey } from '../../src/backup/key-bundle.js';
import { InputError } from '../../src/lib/errors.js';
import { singleKeyring, withNewCurrentKey } from '../../src/secrets/keyring.js';

const PASS = 'correct horse battery staple';

describe('key bundle', () => {
  // GIVEN a rotated keyring WHEN sealed and opened with the passphrase THEN the same keyring, no key in clear
  it('seals the whole keyring', () => {
    const ring = withNewCurrentKey(singleKeyring('o'.repeat(40), '2026-01-01T00:00:00.000Z'), 'n'.repeat(43), new Date());
    const text = sealKeyring(ring, PASS);
    expect(text).not.to.contain('o'.repeat(40)).and.not.contain('n'.repeat(43));
    expect(openKeyBundle(text, PASS)).to.deep.equal({ kind: 'keyring', ring });
    expect(() => openKeyBundle(text, 'wrong passphrase!')).to.throw(InputError, /wrong passphrase/);
  });

  // GIVEN a bundle written before the keyring (SECRET_KEY alone) WHEN opened THEN the key
  it('still opens a bundle of SECRET_KEY alone', () => {
    expect(openKeyBundle(sealSecretKey('s'.repeat(40), PASS), PASS)).to.deep.equal({ kind: 'key', key: 's'.repeat(40) });
  });
});
