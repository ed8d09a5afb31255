/**
 * The one way tests wait: poll a probe until it reports the awaited state, or get the error a promise rejects with.
 * Tests wait on state, never on sleeps; see test/README.md ("Writing tests").
 */
import { inspect } from 'node:util';

/** What `waitFor` returns: the probe's value once it counts as "there". */
export type Arrived<T> = Exclude<Awaited<T>, false | null | undefined>;

export interface WaitOptions {
  /** How long to keep polling before failing the test (default 10 s: generous, since a busy 2-core machine is slow). */
  timeoutMs?: number;
  /** Pause between probes (default 20 ms). */
  intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than `false`, `null` or `undefined` without throwing, and returns
 * that value. A probe may return a boolean (`() => rows.length > 0`), the awaited thing itself
 * (`() => events.find(...)`), or assert (`() => expect(x).to.equal(1)`; a block that asserts ends with `return true`):
 * a thrown assertion means "not yet". On timeout it fails with `what` and the last value or error the probe gave, so
 * the failure says what was seen instead of only that time ran out.
 */
export async function waitFor<T>(what: string, probe: () => T, options: WaitOptions | number = {}): Promise<Arrived<T>> {
  const { timeoutMs = 10_000, intervalMs = 20 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: { value: unknown } | { error: unknown };
    try {
      const value = await probe();
      if (value !== false && value !== null && value !== undefined) return value as Arrived<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= deadline) {
      const seen = 'error' in last ? `the probe threw: ${describeError(last.error)}` : `the probe returned ${inspect(last.value, { depth: 3, breakLength: Infinity })}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}`, { cause: 'error' in last ? last.error : undefined });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : inspect(err);
}

/** The error `p` rejects with; fails the test if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}
