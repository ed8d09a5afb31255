/** The audit log's hash chain: canonical JSON (key order free), hashes, and the first broken row named. */
import { expect } from 'chai';
import { canonicalJson, rowHash, verifyChain, type AuditContent, type ChainedRow } from '../../src/audit/audit-chain.js';

function chain(contents: AuditContent[]): ChainedRow[] {
  let prev = '';
  return contents.map((c, i) => {
    const hash = rowHash(prev, c);
    const row = { ...c, id: i + 1, prevHash: prev, hash };
    prev = hash;
    return row;
  });
}

const entry = (action: string, after: unknown): AuditContent => ({
  at: '2026-12-06T12:00:00.000Z', source: 'cli', actor: 'root (uid 0)', action, enterprise: '0367', before: null, after,
});

describe('audit chain', () => {
  it('hashes content independently of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).to.equal('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(rowHash('', entry('x', { a: 1, b: 2 }))).to.equal(rowHash('', entry('x', { b: 2, a: 1 })));
    expect(rowHash('', entry('x', { a: 1 }))).not.to.equal(rowHash('p', entry('x', { a: 1 })));
  });

  it('accepts an intact chain', () => {
    const rows = chain([entry('a', 1), entry('b', 2), entry('c', 3)]);
    expect(verifyChain(rows)).to.deep.equal({ ok: true, lastHash: rows[2]?.hash, count: 3 });
  });

  it('names an edited row', () => {
    const rows = chain([entry('a', 1), entry('b', 2), entry('c', 3)]);
    rows[1] = { ...(rows[1] as ChainedRow), after: 99 };
    expect(verifyChain(rows)).to.deep.equal({ ok: false, broken: { id: 2, problem: 'edited' } });
  });

  it('names the row after a deleted one', () => {
    const rows = chain([entry('a', 1), entry('b', 2), entry('c', 3)]);
    rows.splice(1, 1);
    expect(verifyChain(rows)).to.deep.equal({ ok: false, broken: { id: 3, problem: 'link' } });
  });
});
