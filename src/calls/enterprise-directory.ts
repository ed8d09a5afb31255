/**
 * Enterprises and their extension maps as the call path needs them: read from PostgreSQL, kept in memory for a
 * few seconds so a call costs no database round trip, and refreshed concurrently at most once per enterprise.
 * Changes made by the CLI (another process) show up within `ttlMs`.
 */
import type { LRUCache } from 'lru-cache';
import { liveFor, ttlCache } from '../lib/ttl-cache.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { ExtensionStore } from '../db/extension-store.js';

export interface EnterpriseView {
  readonly enterprise: Enterprise;
  readonly extensionByUser: ReadonlyMap<number, string>;
  readonly userByExtension: ReadonlyMap<string, number>;
}

interface Entry {
  readonly view: EnterpriseView | null;
}

/** Enterprise numbers come from the dialplan: a typo must not grow the cache forever. */
const MAX_ENTERPRISES = 10_000;
/** An unknown number is asked again sooner: it may be added by the CLI any moment. */
const UNKNOWN_TTL_MS = 5_000;

export class EnterpriseDirectory {
  private readonly entries: LRUCache<string, Entry>;
  private readonly loading = new Map<string, Promise<EnterpriseView | null>>();

  constructor(
    private readonly enterprises: EnterpriseStore,
    private readonly extensions: ExtensionStore,
    private readonly ttlMs = 10_000,
    now: () => number = Date.now,
  ) {
    this.entries = ttlCache<string, Entry>({ max: MAX_ENTERPRISES, ttlMs, now });
  }

  async get(number: string): Promise<EnterpriseView | null> {
    const entry = this.entries.get(number);
    if (entry) return entry.view;
    const pending = this.loading.get(number);
    if (pending) return pending;
    const load = this.load(number).finally(() => this.loading.delete(number));
    this.loading.set(number, load);
    return load;
  }

  invalidate(number?: string): void {
    if (number === undefined) this.entries.clear();
    else this.entries.delete(number);
  }

  private async load(number: string): Promise<EnterpriseView | null> {
    const enterprise = await this.enterprises.find(number);
    let view: EnterpriseView | null = null;
    if (enterprise) {
      const mappings = await this.extensions.list(number);
      view = {
        enterprise,
        extensionByUser: new Map(mappings.map((m) => [m.userId, m.ext])),
        userByExtension: new Map(mappings.map((m) => [m.ext, m.userId])),
      };
    }
    this.entries.set(number, { view }, { ttl: liveFor(view ? this.ttlMs : Math.min(this.ttlMs, UNKNOWN_TTL_MS)) });
    return view;
  }
}
