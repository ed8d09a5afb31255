/**
 * Cross-instance invalidation of the in-process caller cache over PostgreSQL LISTEN/NOTIFY (channel `rcrm_cache`).
 * Whoever changes `retailcrm_customers` publishes the affected phones (inside its transaction, so the message
 * goes out at commit or never); every instance, the publisher included, runs an InvalidationListener that hands
 * each message to its cache. While the listener is disconnected messages are lost, so after a reconnect it
 * reports `onMissed` and the owner clears its whole cache.
 */
import type { Logger } from '../logger.js';
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
    await db.query('select pg_notify($1, $2)', [INVALIDATION_CHANNEL, payload]);
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

export class InvalidationListener {
  private client: PoolClient | undefined;
  private pid: number | undefined;
  private stopped = true;
  private everConnected = false;
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly o: InvalidationListenerOptions) {
    this.backoffMs = o.initialBackoffMs ?? 250;
  }

  /** True while LISTEN is active on a live connection. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Backend pid of the listening connection (tests kill it to exercise reconnects). */
  get backendPid(): number | undefined {
    return this.client ? this.pid : undefined;
  }

  /** Connects and listens; resolves once the first attempt has finished (on failure a retry is scheduled). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    // Destroyed, not returned to the pool: a pooled client would keep our LISTEN and our event handlers.
    client?.release(true);
  }

  private connect(): Promise<void> {
    this.connecting = this.doConnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    if (this.stopped) return;
    let client: PoolClient | undefined;
    try {
      client = await this.o.pool.connect();
      const mine = client;
      mine.on('notification', (msg) => {
        if (msg.channel === INVALIDATION_CHANNEL) this.deliver(msg.payload);
      });
      mine.on('error', (err: Error) => this.lost(mine, err));
      mine.on('end', () => this.lost(mine, new Error('connection ended')));
      const { rows } = await mine.query<{ pid: number }>('select pg_backend_pid() as pid');
      await mine.query(`listen ${INVALIDATION_CHANNEL}`);
      if (this.stopped) {
        mine.release(true);
        return;
      }
      this.pid = rows[0]?.pid;
      this.client = mine;
      this.backoffMs = this.o.initialBackoffMs ?? 250;
      if (this.everConnected) {
        this.o.logger.info('cache invalidation: LISTEN is back');
        this.report(() => this.o.onMissed?.());
      }
      this.everConnected = true;
    } catch (err) {
      client?.release(err instanceof Error ? err : new Error(String(err)));
      this.scheduleReconnect(err);
    }
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

  private lost(client: PoolClient, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.release(err);
    this.scheduleReconnect(err);
  }

  private scheduleReconnect(err: unknown): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.maxBackoffMs ?? 30_000);
    this.o.logger.warn('cache invalidation: LISTEN connection lost; reconnecting', { err, retryInMs: delay });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
  }
}
