import { expect } from 'chai';
import { cleanCallerName, displayName } from '../../src/domain/caller-name.js';

describe('caller name', () => {
  // GIVEN a name with CR/LF and control characters WHEN cleaned THEN none survive and whitespace is folded
  it('strips newlines and control characters', () => {
    expect(cleanCallerName('Иван\r\nПетров\u0000\u0007\tОК')).to.equal('Иван Петров ОК');
    expect(cleanCallerName('a\u2028b\u202ec')).to.equal('a b c');
  });

  // GIVEN commas, quotes, pipes and emoji WHEN cleaned THEN they are kept (quoting is the AGI codec's job)
  it('keeps commas, quotes, pipes and emoji', () => {
    expect(cleanCallerName('ООО "Ромашка", филиал | 🚀')).to.equal('ООО "Ромашка", филиал | 🚀');
  });

  // GIVEN 300 characters WHEN cleaned THEN the result is capped without cutting a character in half
  it('caps length on grapheme boundaries', () => {
    const long = '👨‍👩‍👧'.repeat(100) + 'x'.repeat(300);
    const out = cleanCallerName(long);
    expect(Buffer.byteLength(out)).to.be.at.most(200);
    expect(out.length % '👨‍👩‍👧'.length).to.equal(0);
    expect(cleanCallerName('я'.repeat(300))).to.have.length(64);
  });

  // GIVEN a person or a company WHEN naming THEN first+last, or the company for a corporate customer
  it('builds display names', () => {
    expect(displayName({ firstName: 'Иван', lastName: 'Петров' })).to.equal('Иван Петров');
    expect(displayName({ firstName: 'Иван', lastName: null })).to.equal('Иван');
    expect(displayName({ company: 'ООО Ромашка', firstName: 'Иван', isCorporate: true })).to.equal('ООО Ромашка');
    expect(displayName({ company: '', firstName: 'Иван', isCorporate: true })).to.equal('Иван');
    expect(displayName({})).to.equal('');
  });
});
