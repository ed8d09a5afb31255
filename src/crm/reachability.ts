/**
 * Whether each RetailCRM account answered recently, from the client's request observations: the last answer
 * that proves the account works (2xx, or a 404 for a missing entity), the last failure and why. For /ready.
 */
import type { CrmRequestObservation } from './client.js';

export interface AccountReachability {
  readonly lastOkAt: number | null;
  readonly lastFailureAt: number | null;
  /** `auth` (401/403: the API key), `unavailable` (5xx, 429, timeout, network). */
  readonly lastFailure: 'auth' | 'unavailable' | null;
}

export class CrmReachability {
  private readonly accounts = new Map<string, AccountReachability>();

  constructor(private readonly now: () => number = Date.now) {}

  observe(o: CrmRequestObservation): void {
    const prev = this.accounts.get(o.account) ?? { lastOkAt: null, lastFailureAt: null, lastFailure: null };
    const code = Number(o.status);
    if (Number.isInteger(code) && ((code >= 200 && code < 300) || code === 404 || code === 400)) {
      this.accounts.set(o.account, { ...prev, lastOkAt: this.now() });
    } else if (code === 401 || code === 403) {
      this.accounts.set(o.account, { ...prev, lastFailureAt: this.now(), lastFailure: 'auth' });
    } else {
      this.accounts.set(o.account, { ...prev, lastFailureAt: this.now(), lastFailure: 'unavailable' });
    }
    // Bounded by the number of enterprises; a removed enterprise's entry is dropped by forget().
  }

  get(account: string): AccountReachability | undefined {
    return this.accounts.get(account);
  }

  forget(account: string): void {
    this.accounts.delete(account);
  }
}
