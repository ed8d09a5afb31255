/**
 * Cross-instance invalidation of the in-process caller cache over PostgreSQL LISTEN/NOTIFY (channel `rcrm_cache`).
 * Whoever changes `retailcrm_customers` publishes the affected phones (inside its transaction, so the message
 * goes out at commit or never); every instance, the publisher included, runs an InvalidationListener that hands
 * each message to its cache. While the listener is disconnected messages are lost, so after a reconnect it
 * reports `onMissed` and the owner clears its whole cache.
 */
import type { Logger } from '../lib/logger.js';
import { notify, PgListener } from '../db/pg-listener.js';
import type { Pool, PoolClient } from '../db/pool.js';

export const INVALIDATION_CHANNEL = 'rcrm_cache';

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below. */
const MAX_PAYLOAD_BYTES = 7_000;

type Db = Pool | PoolClient;

export type InvalidatedPhones = readonly string[] | 'all';

export interface Invalidation {
  readonly enterprise: string;
  readonly phones: InvalidatedPhones;
}

/** The NOTIFY payloads for one change, each under PostgreSQL's limit. No phones → no message. */
export function invalidationPayloads(enterprise: string, phones: InvalidatedPhones): string[] {
  if (phones === 'all') return [JSON.stringify({ e: enterprise, all: true })];
  const unique = [...new Set(phones)];
  const payloads: string[] = [];
  const encode = (list: string[]): string => JSON.stringify({ e: enterprise, p: list });
  const base = Buffer.byteLength(encode([]), 'utf8');
  let batch: string[] = [];
  let size = base;
  for (const phone of unique) {
    const cost = Buffer.byteLength(JSON.stringify(phone), 'utf8') + 1; // the phone and its comma
    if (batch.length > 0 && size + cost > MAX_PAYLOAD_BYTES) {
      payloads.push(encode(batch));
      batch = [];
      size = base;
    }
    batch.push(phone);
    size += cost;
  }
  if (batch.length > 0) payloads.push(encode(batch));
  return payloads;
}

/** A payload from the channel, or null when it is not ours (never trusted to be well formed). */
export function parseInvalidation(payload: string | undefined): Invalidation | null {
  if (payload === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { e, p, all } = value as Record<string, unknown>;
  if (typeof e !== 'string' || e === '') return null;
  if (all === true) return { enterprise: e, phones: 'all' };
  if (!Array.isArray(p)) return null;
  return { enterprise: e, phones: p.filter((x): x is string => typeof x === 'string') };
}

/** Tells every instance to forget these phones. Inside a transaction the message is sent at commit. */
export async function publishInvalidation(db: Db, enterprise: string, phones: InvalidatedPhones): Promise<void> {
  for (const payload of invalidationPayloads(enterprise, phones)) {
    await notify(db, INVALIDATION_CHANNEL, payload);
  }
}

export interface InvalidationListenerOptions {
  readonly pool: Pool;
  readonly onInvalidate: (enterprise: string, phones: InvalidatedPhones) => void;
  /** Called after a reconnect: messages sent while we were deaf are lost, so clear every cached entry. */
  readonly onMissed?: () => void;
  readonly logger: Logger;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** Hands each message on `rcrm_cache` to onInvalidate; the connection and its reconnects are PgListener's. */
export class InvalidationListener {
  private readonly listener: PgListener;

  constructor(private readonly o: InvalidationListenerOptions) {
    this.listener = new PgListener({
      pool: o.pool,
      channel: INVALIDATION_CHANNEL,
      logger: o.logger,
      label: 'cache invalidation',
      onNotification: (payload) => this.deliver(payload),
      onConnected: (reconnected) => {
        if (reconnected) this.report(() => this.o.onMissed?.());
      },
      initialBackoffMs: o.initialBackoffMs,
      maxBackoffMs: o.maxBackoffMs,
    });
  }

  /** True while LISTEN is active on a live connection. */
  get listening(): boolean {
    return this.listener.listening;
  }

  /** Backend pid of the listening connection (tests kill it to exercise reconnects). */
  get backendPid(): number | undefined {
    return this.listener.backendPid;
  }

  /** Connects and listens; resolves once the first attempt has finished (on failure a retry is scheduled). */
  start(): Promise<void> {
    return this.listener.start();
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }

  private deliver(payload: string | undefined): void {
    const message = parseInvalidation(payload);
    if (!message) {
      this.o.logger.warn('cache invalidation: ignored a malformed message');
      return;
    }
    this.report(() => this.o.onInvalidate(message.enterprise, message.phones));
  }

  private report(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.logger.error('cache invalidation callback failed', { err });
    }
  }
}
