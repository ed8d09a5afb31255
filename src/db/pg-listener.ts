/**
 * One dedicated PostgreSQL connection that LISTENs on one channel. It owns that connection from pool checkout to
 * destruction (never handed back to the pool with a LISTEN on it), reconnects with exponential backoff when the
 * connection is lost or cannot be made, and tells its owner each time it is listening again (messages sent while
 * it was deaf are lost: the owner decides what to do about that). It owns its reconnect timer and every connect
 * attempt, and stop() ends all of them. `notify` is the sending side.
 */
import type { Logger } from '../lib/logger.js';
import { TaskTracker } from '../lib/task-tracker.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Pool, PoolClient, Queryable } from './pool.js';

/** LISTEN takes an identifier, not a parameter: only plain lower-case names are accepted, so nothing is quoted. */
const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;

export interface PgListenerOptions {
  readonly pool: Pool;
  readonly channel: string;
  readonly logger: Logger;
  /** Prefix of this listener's log messages ("outbox", "cache invalidation"). */
  readonly label: string;
  /** Each notification on the channel, in order. Must not throw (a throw is logged and swallowed). */
  readonly onNotification: (payload: string | undefined) => void;
  /** After every successful LISTEN; `reconnected` is false only for the first connection since start(). */
  readonly onConnected?: (reconnected: boolean) => void;
  /** Default 250 ms, doubled after each failed attempt up to maxBackoffMs (default 30 s). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class PgListener {
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly tasks: TaskTracker;
  private client: PoolClient | undefined;
  private pid: number | undefined;
  private stopped = true;
  private everConnected = false;
  /** Failed attempts since the last good connection: the next delay's exponent. */
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: PgListenerOptions) {
    if (!CHANNEL_NAME.test(o.channel)) throw new RangeError(`invalid LISTEN channel name: ${JSON.stringify(o.channel)}`);
    this.initialBackoffMs = o.initialBackoffMs ?? 250;
    this.maxBackoffMs = o.maxBackoffMs ?? 30_000;
    if (!(this.initialBackoffMs > 0 && this.maxBackoffMs > 0)) throw new RangeError('backoff bounds must be positive');
    this.tasks = new TaskTracker((err) => o.logger.error(`${o.label}: LISTEN connect attempt failed`, { err }));
  }

  /** True while LISTEN is active on a live connection. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Backend pid of the listening connection (tests kill it with pg_terminate_backend to exercise reconnects). */
  get backendPid(): number | undefined {
    return this.client ? this.pid : undefined;
  }

  /** Connects and listens; resolves once the first attempt has finished (on failure a retry is scheduled). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.everConnected = false;
    this.failures = 0;
    const first = this.connect();
    this.tasks.track(first);
    await first;
  }

  /** No more reconnects; waits for an attempt in flight, then destroys the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await this.tasks.drain();
    const client = this.client;
    this.client = undefined;
    this.pid = undefined;
    // Destroyed, not returned to the pool: a pooled client would keep our LISTEN and our event handlers.
    client?.release(true);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let client: PoolClient | undefined;
    try {
      client = await this.o.pool.connect();
      const mine = client;
      mine.on('notification', (msg) => {
        if (msg.channel === this.o.channel && this.client === mine) this.report(() => this.o.onNotification(msg.payload));
      });
      mine.on('error', (err: Error) => this.lost(mine, err));
      mine.on('end', () => this.lost(mine, new Error('connection ended')));
      const { rows } = await mine.query<{ pid: number }>('select pg_backend_pid() as pid');
      await mine.query(`listen ${this.o.channel}`);
      if (this.stopped) {
        mine.release(true);
        return;
      }
      this.pid = rows[0]?.pid;
      this.client = mine;
      this.failures = 0;
      const reconnected = this.everConnected;
      this.everConnected = true;
      if (reconnected) this.o.logger.info(`${this.o.label}: LISTEN is back`);
      const onConnected = this.o.onConnected;
      if (onConnected) this.report(() => onConnected(reconnected));
    } catch (err) {
      client?.release(err instanceof Error ? err : new Error(String(err)));
      this.scheduleReconnect(err);
    }
  }

  private report(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.logger.error(`${this.o.label}: LISTEN callback failed`, { err });
    }
  }

  private lost(client: PoolClient, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.pid = undefined;
    client.release(err);
    this.scheduleReconnect(err);
  }

  private scheduleReconnect(err: unknown): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.failures++, { initialMs: this.initialBackoffMs, maxMs: this.maxBackoffMs });
    this.o.logger.warn(`${this.o.label}: LISTEN connection lost; reconnecting`, {
      err, channel: this.o.channel, retryInMs: delay,
    });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.tasks.track(this.connect());
    }, delay);
  }
}

/** NOTIFY on `channel`; inside a transaction PostgreSQL sends it at commit, or never. */
export async function notify(db: Queryable, channel: string, payload: string): Promise<void> {
  await db.query('select pg_notify($1, $2)', [channel, payload]);
}
