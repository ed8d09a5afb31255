import { expect } from 'chai';
import { createSecretBox, safeEqual } from '../../src/secrets/secret-box.js';
import { SecretError } from '../../src/lib/errors.js';

describe('secret box', () => {
  const box = createSecretBox('k'.repeat(40));

  // GIVEN a secret WHEN sealed and opened THEN it round-trips and the sealed form differs each time
  it('encrypts at rest', () => {
    const a = box.seal('api-key-123');
    expect(a).to.not.contain('api-key-123');
    expect(a).to.not.equal(box.seal('api-key-123'));
    expect(box.open(a)).to.equal('api-key-123');
  });

  // GIVEN another SECRET_KEY WHEN opening THEN a clear SecretError, not garbage
  it('refuses a wrong key', () => {
    const other = createSecretBox('z'.repeat(40));
    expect(() => other.open(box.seal('x'))).to.throw(SecretError, /SECRET_KEY/);
    expect(() => box.open('garbage')).to.throw(SecretError);
  });

  // GIVEN a signed payload WHEN verified THEN only the exact token for that purpose and payload passes
  it('signs and verifies tokens', () => {
    const t = box.sign('recording', 'file.wav');
    expect(box.verify('recording', 'file.wav', t)).to.equal(true);
    expect(box.verify('recording', 'file2.wav', t)).to.equal(false);
    expect(box.verify('webhook', 'file.wav', t)).to.equal(false);
    expect(box.verify('recording', 'file.wav', `${t}x`)).to.equal(false);
  });

  it('compares in constant time across lengths', () => {
    expect(safeEqual('abc', 'abc')).to.equal(true);
    expect(safeEqual('abc', 'abcd')).to.equal(false);
  });
});
