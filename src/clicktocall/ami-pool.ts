/**
 * One AmiClient per enterprise PBX. A client is created on first use (or for every configured PBX by
 * `startAll()`), replaced when the stored connection settings change (checked on every use, so a `pbx set` from
 * the CLI takes effect on the next click), and closed by `close()`. Connecting is bounded by the client's own
 * deadlines; after the first successful login the client reconnects by itself with backoff.
 */
import { AmiClient } from '../ami/client.js';
import type { AmiClientOptions, AmiLogFn } from '../ami/client-options.js';
import { AmiConnectionError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { TaskTracker } from '../lib/task-tracker.js';
import { connectionKey, type PbxStore } from './pbx-store.js';
import { type PbxSettings } from '../domain/pbx-settings.js';

export type AmiClientTuning = Omit<AmiClientOptions, 'host' | 'port' | 'username' | 'secret' | 'onLog'>;

export interface AmiPoolOptions {
  readonly pbx: Pick<PbxStore, 'find' | 'list'>;
  readonly logger: Logger;
  /** Deadlines, keepalive and backoff for every client; sensible defaults for click-to-call below. */
  readonly client?: AmiClientTuning;
}

interface Entry {
  readonly key: string;
  readonly client: AmiClient;
}

export interface PbxHandle {
  readonly client: AmiClient;
  readonly settings: PbxSettings;
}

const DEFAULT_TUNING: AmiClientTuning = {
  connectTimeoutMs: 3_000,
  loginTimeoutMs: 3_000,
  actionTimeoutMs: 5_000,
  keepaliveIntervalMs: 20_000,
  keepaliveTimeoutMs: 5_000,
  // Click-to-call only needs its own OriginateResponse; 'call' carries it without the CDR/CEL flood.
  events: 'call',
};

export class AmiPool {
  private readonly entries = new Map<string, Entry>();
  private readonly closing = new TaskTracker();
  private closed = false;
  private readonly tuning: AmiClientTuning;

  constructor(private readonly opts: AmiPoolOptions) {
    this.tuning = { ...DEFAULT_TUNING, ...opts.client };
  }

  /** Enterprises that currently have a client, and its state (health, metrics). */
  states(): Record<string, string> {
    return Object.fromEntries([...this.entries].map(([enterprise, e]) => [enterprise, e.client.state]));
  }

  /**
   * The enterprise's PBX settings and a connected client; null when the enterprise has no PBX. Rejects with the
   * AMI layer's error (AmiConnectionError, AmiAuthError, AmiTimeoutError) when the PBX cannot be reached.
   */
  async connected(enterprise: string): Promise<PbxHandle | null> {
    const settings = await this.opts.pbx.find(enterprise);
    if (!settings) {
      this.retire(enterprise);
      return null;
    }
    const client = this.clientFor(settings);
    if (client.state !== 'connected') await client.connect();
    return { client, settings };
  }

  /** Creates clients for every configured PBX and lets them connect in the background (never rejects on a PBX). */
  async startAll(): Promise<void> {
    for (const settings of await this.opts.pbx.list()) this.clientFor(settings).start();
  }

  /** Drops the enterprise's client (settings removed or changed); the next use creates a fresh one. */
  retire(enterprise: string): void {
    const entry = this.entries.get(enterprise);
    if (!entry) return;
    this.entries.delete(enterprise);
    this.closing.track(entry.client.close());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const enterprise of [...this.entries.keys()]) this.retire(enterprise);
    await this.closing.drain();
  }

  private clientFor(settings: PbxSettings): AmiClient {
    if (this.closed) throw new AmiConnectionError('AMI pool is closed');
    const key = connectionKey(settings);
    const existing = this.entries.get(settings.enterprise);
    if (existing && existing.key === key) return existing.client;
    if (existing) {
      this.opts.logger.info('PBX settings changed; reconnecting', { enterprise: settings.enterprise });
      this.retire(settings.enterprise);
    }
    const client = new AmiClient({
      ...this.tuning,
      host: settings.host,
      port: settings.port,
      username: settings.username,
      secret: settings.secret,
      onLog: this.logFor(settings.enterprise),
    });
    this.entries.set(settings.enterprise, { key, client });
    return client;
  }

  private logFor(enterprise: string): AmiLogFn {
    const log = this.opts.logger;
    return (level, msg, fields) => log.log(level, msg, { enterprise, ...fields });
  }
}
