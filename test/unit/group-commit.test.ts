import { expect } from 'chai';
import { GroupCommit } from '../../src/lib/group-commit.js';

/** A write the test finishes by hand, recording the batches it was given. */
function heldWrite() {
  const batches: number[][] = [];
  const release: (() => void)[] = [];
  let fail: Error | undefined;
  const write = (items: readonly number[]): Promise<number[]> => {
    batches.push([...items]);
    return new Promise((resolve, reject) => release.push(() => (fail ? reject(fail) : resolve(items.map((i) => i * 10)))));
  };
  return { batches, release, write, failWith: (err: Error | undefined) => (fail = err) };
}

describe('group commit', () => {
  // GIVEN nothing in flight WHEN one item is submitted THEN it is written at once, alone (no added wait)
  it('writes a lone item at once', async () => {
    const w = heldWrite();
    const g = new GroupCommit(w.write);
    const out = g.submit(1);
    expect(w.batches).to.deep.equal([[1]]);
    w.release.shift()?.();
    expect(await out).to.equal(10);
  });

  // GIVEN a batch in flight WHEN more items arrive THEN they wait and go together in the next batch, each gets its own output
  it('batches what arrives while a write runs', async () => {
    const w = heldWrite();
    const g = new GroupCommit(w.write);
    const first = g.submit(1);
    const rest = [2, 3, 4].map((i) => g.submit(i));
    expect(g.queued).to.equal(3);
    w.release.shift()?.();
    await first;
    expect(w.batches).to.deep.equal([[1], [2, 3, 4]]);
    w.release.shift()?.();
    expect(await Promise.all(rest)).to.deep.equal([20, 30, 40]);
  });

  // GIVEN maxBatch 2 WHEN five items wait THEN batches of at most 2
  it('keeps batches within maxBatch', async () => {
    const w = heldWrite();
    const g = new GroupCommit(w.write, { maxBatch: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => g.submit(i));
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      w.release.shift()?.();
    }
    expect(await Promise.all(all)).to.deep.equal([10, 20, 30, 40, 50]);
    expect(w.batches).to.deep.equal([[1], [2, 3], [4, 5]]);
  });

  // GIVEN a failing write WHEN its batch fails THEN every item of that batch rejects with the error; the items
  // that waited meanwhile go in the next batch, and writing goes on once the cause is gone
  it('fails the whole batch, then goes on', async () => {
    const w = heldWrite();
    const g = new GroupCommit(w.write);
    const batches = [g.submit(1), g.submit(2), g.submit(3)];
    w.failWith(new Error('statement failed'));
    w.release.shift()?.();
    await batches[0]?.catch(() => undefined);
    expect(w.batches).to.deep.equal([[1], [2, 3]]);
    w.release.shift()?.();
    for (const p of batches) await p.then(() => expect.fail('resolved'), (err: Error) => expect(err.message).to.equal('statement failed'));
    w.failWith(undefined);
    const ok = g.submit(4);
    expect(w.batches).to.deep.equal([[1], [2, 3], [4]]);
    w.release.shift()?.();
    expect(await ok).to.equal(40);
  });

  // GIVEN a write that answers the wrong number of outputs WHEN it returns THEN every item rejects (never a wrong match)
  it('refuses a result that does not match the batch', async () => {
    const g = new GroupCommit(async (items: readonly number[]) => items.slice(1));
    await g.submit(1).then(() => expect.fail('resolved'), (err: Error) => expect(err.message).to.match(/0 results for 1 items/));
  });
});
