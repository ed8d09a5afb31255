/**
 * Waiting on work with a deadline without cancelling the work: the live call path (lookups, manager status) and
 * health checks stop waiting at the deadline, while the work itself runs on under its own I/O deadline
 * (a late RetailCRM answer still warms the cache). Rejects with DeadlineExpired; the timer is always cleared.
 */
export class DeadlineExpired extends Error {
  constructor() {
    super('deadline expired');
    this.name = 'DeadlineExpired';
  }
}

export function raceDeadline<T>(
  work: Promise<T>,
  deadline: number,
  opts: { readonly signal?: AbortSignal | undefined; readonly now?: () => number } = {},
): Promise<T> {
  const remaining = deadline - (opts.now ?? Date.now)();
  if (remaining <= 0) {
    work.catch(() => undefined); // nobody waits for it any more: its failure must not go unhandled
    return Promise.reject(new DeadlineExpired());
  }
  const signal = opts.signal;
  return new Promise<T>((resolve, reject) => {
    const finish = (fn: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = (): void => finish(() => reject(new DeadlineExpired()));
    const timer = setTimeout(onAbort, remaining);
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}
