/**
 * Manager status as RetailCRM reports it through changeUserStatusUrl (free, busy, dinner, break) and as the
 * periodic read of its users finds it (manager-status-sync.ts), stored in
 * `manager_status` and read on the live call path from a per-enterprise in-memory copy refreshed after a short TTL
 * (so several instances converge within the TTL). `/incoming` uses `isAway` to skip a manager on break or dinner.
 */
import type { LRUCache } from 'lru-cache';
import { ttlCache } from '../lib/ttl-cache.js';
import { InputError } from '../lib/errors.js';
import type { Pool } from '../db/pool.js';
import { readManagerStatuses, saveManagerStatus, saveManagerStatuses } from './manager-status-store.js';

export const MANAGER_STATUSES = ['free', 'busy', 'dinner', 'break'] as const;
export type ManagerStatus = (typeof MANAGER_STATUSES)[number];

export function parseManagerStatus(value: string | null | undefined): ManagerStatus {
  const v = (value ?? '').trim();
  if (!(MANAGER_STATUSES as readonly string[]).includes(v)) {
    throw new InputError(`status must be one of ${MANAGER_STATUSES.join(', ')}`, 'status');
  }
  return v as ManagerStatus;
}

/** On break or at dinner: calls should not be routed to this manager. */
export function isAway(status: ManagerStatus | null): boolean {
  return status === 'break' || status === 'dinner';
}

export interface ManagerStatusOptions {
  readonly pool: Pool;
  /** How long one enterprise's statuses are served from memory. Default 5 s. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

interface Snapshot {
  readonly statuses: Map<number, ManagerStatus>;
}

/** Enterprises whose statuses are kept in memory at once. */
const MAX_ENTERPRISES = 10_000;

export class ManagerStatusDirectory {
  /** Undefined when ttlMs is 0: every read goes to the database. */
  private readonly snapshots: LRUCache<string, Snapshot> | undefined;
  private readonly loading = new Map<string, Promise<Snapshot>>();

  constructor(private readonly opts: ManagerStatusOptions) {
    const ttl = opts.ttlMs ?? 5_000;
    const now = opts.now ?? Date.now;
    this.snapshots = ttl > 0 ? ttlCache<string, Snapshot>({ max: MAX_ENTERPRISES, ttlMs: ttl, now }) : undefined;
  }

  /** The manager's last reported status; null when RetailCRM never reported one. */
  async statusOf(enterprise: string, userId: number): Promise<ManagerStatus | null> {
    const snapshot = await this.snapshot(enterprise);
    return snapshot.statuses.get(userId) ?? null;
  }

  async set(enterprise: string, userId: number, status: ManagerStatus): Promise<void> {
    if (!Number.isInteger(userId) || userId <= 0) throw new InputError('userId must be a RetailCRM user id', 'userId');
    await saveManagerStatus(this.opts.pool, enterprise, userId, status);
    this.snapshots?.get(enterprise)?.statuses.set(userId, status);
  }

  /** Many statuses of one enterprise at once (the periodic read of RetailCRM's users); only changes are written. */
  async setMany(enterprise: string, statuses: readonly { readonly userId: number; readonly status: ManagerStatus }[]): Promise<void> {
    if (statuses.length === 0) return;
    await saveManagerStatuses(this.opts.pool, enterprise, statuses);
    const snapshot = this.snapshots?.get(enterprise);
    for (const s of statuses) snapshot?.statuses.set(s.userId, s.status);
  }

  /** Forget the in-memory copy (another instance's change, tests). */
  invalidate(enterprise?: string): void {
    if (enterprise === undefined) this.snapshots?.clear();
    else this.snapshots?.delete(enterprise);
  }

  private async snapshot(enterprise: string): Promise<Snapshot> {
    const current = this.snapshots?.get(enterprise);
    if (current) return current;
    let pending = this.loading.get(enterprise);
    if (!pending) {
      pending = this.load(enterprise).finally(() => this.loading.delete(enterprise));
      this.loading.set(enterprise, pending);
    }
    return pending;
  }

  private async load(enterprise: string): Promise<Snapshot> {
    const rows = await readManagerStatuses(this.opts.pool, enterprise);
    // Only this module writes the column, always a ManagerStatus.
    const snapshot = { statuses: new Map(rows.map((r) => [r.userId, r.status as ManagerStatus])) };
    this.snapshots?.set(enterprise, snapshot);
    return snapshot;
  }
}
