/**
 * FastAGI TCP server: accepts Asterisk's connections, bounds how many run at once, runs the handler for
 * each session and always closes it afterwards, and drains on shutdown.
 *
 * Owns the listener and the set of live sessions. A peer `allowPeer` rejects is closed at accept, before a byte
 * is read. Over `maxSessions` a connection is closed at once (Asterisk then goes on with AGISTATUS=FAILURE and
 * the dialplan's default route), never queued. A handler's failure is
 * reported as 'sessionError', never thrown. Knows nothing about config, logging or the CRM.
 */
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { waitAtMost } from '../lib/deadline.js';
import { AgiSession, type AgiSessionOptions } from './session.js';

export type AgiHandler = (session: AgiSession) => Promise<void>;

/** Why a connection was closed at accept. */
export type AgiRefusal = 'not_allowed' | 'max_sessions' | 'stopping';

export interface AgiServerOptions extends AgiSessionOptions {
  readonly handler: AgiHandler;
  readonly maxSessions: number;
  /** Who may connect (by remote address); absent: anyone. Checked before anything is read from the socket. */
  readonly allowPeer?: (remoteAddress: string | undefined) => boolean;
}

export interface AgiServerEvents {
  /** The handler rejected, or the session failed before the handler ran (garbage, env timeout, close). */
  sessionError: [err: unknown, session: AgiSession | undefined];
  /** A session's socket is closed and its handler has returned. */
  sessionEnd: [session: AgiSession];
  /** A connection was closed at accept: peer not allowed, maxSessions live, or the server stopping. */
  sessionRefused: [remoteAddress: string | undefined, reason: AgiRefusal];
  /** The listener itself failed after listen() succeeded. */
  serverError: [err: Error];
}

export interface AgiServer extends EventEmitter<AgiServerEvents> {
  listen(port: number, host?: string): Promise<{ port: number }>;
  address(): AddressInfo | undefined;
  readonly activeSessions: number;
  stopAccepting(): void;
  close(options?: { drainMs?: number }): Promise<void>;
}

export function createAgiServer(options: AgiServerOptions): AgiServer {
  return new FastAgiServer(options);
}

class FastAgiServer extends EventEmitter<AgiServerEvents> implements AgiServer {
  private readonly options: AgiServerOptions;
  private readonly server: Server;
  /** Live sessions and the task that runs each (handler, then close). */
  private readonly sessions = new Map<AgiSession, Promise<void>>();
  private accepting = true;
  private listening = false;
  private readonly serverClosed: Promise<void>;
  private resolveServerClosed!: () => void;

  constructor(options: AgiServerOptions) {
    super();
    if (!Number.isInteger(options.maxSessions) || options.maxSessions < 1) {
      throw new RangeError(`maxSessions must be a positive integer, got ${options.maxSessions}`);
    }
    this.options = options;
    this.serverClosed = new Promise<void>((resolve) => {
      this.resolveServerClosed = resolve;
    });
    // No `noDelay` here: the session sets it (once: the server option would make that a second setsockopt).
    this.server = createServer((socket) => this.onConnection(socket));
    this.server.on('close', () => this.resolveServerClosed());
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  listen(port: number, host?: string): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.emit('serverError', err));
        this.listening = true;
        resolve({ port: (this.server.address() as AddressInfo).port });
      });
    });
  }

  address(): AddressInfo | undefined {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  stopAccepting(): void {
    if (!this.accepting) return;
    this.accepting = false;
    if (this.listening) this.server.close();
    else this.resolveServerClosed();
  }

  /**
   * Stops accepting, lets live sessions finish for up to `drainMs`, then destroys the rest (their handlers
   * see AgiClosedError and an aborted signal). Resolves when the listener and every socket are closed.
   */
  async close(options: { drainMs?: number } = {}): Promise<void> {
    this.stopAccepting();
    const drainMs = options.drainMs ?? 0;
    if (this.sessions.size > 0 && drainMs > 0) {
      await waitAtMost(Promise.all(this.sessions.values()), drainMs);
    }
    const left = [...this.sessions.keys()];
    for (const session of left) session.destroy();
    await Promise.all(left.map((s) => s.closed));
    await this.serverClosed;
  }

  private onConnection(socket: Socket): void {
    const reason = this.refusal(socket);
    if (reason !== null) {
      // Swallow the RST/EPIPE a refused peer may cause; Asterisk sees the close and reports FAILURE.
      socket.on('error', () => undefined);
      socket.destroy();
      try {
        this.emit('sessionRefused', socket.remoteAddress, reason);
      } catch (err) {
        // A throwing listener must not take the listener down; it is reported as a process warning (stderr).
        process.emitWarning(err instanceof Error ? err : String(err));
      }
      return;
    }
    const session = new AgiSession(socket, this.options);
    const task = this.runSession(session);
    this.sessions.set(session, task);
  }

  private refusal(socket: Socket): AgiRefusal | null {
    if (!this.accepting) return 'stopping';
    if (this.options.allowPeer && !this.options.allowPeer(socket.remoteAddress)) return 'not_allowed';
    if (this.sessions.size >= this.options.maxSessions) return 'max_sessions';
    return null;
  }

  private async runSession(session: AgiSession): Promise<void> {
    try {
      await session.ready;
      await this.options.handler(session);
    } catch (err) {
      this.report(err, session);
    }
    try {
      await session.close();
    } catch (err) {
      this.report(err, session);
    }
    this.sessions.delete(session);
    try {
      this.emit('sessionEnd', session);
    } catch (err) {
      this.report(err, session);
    }
  }

  private report(err: unknown, session: AgiSession): void {
    try {
      this.emit('sessionError', err, session);
    } catch (listenerErr) {
      // A throwing listener must not take the process down with it; both failures go to stderr as warnings.
      process.emitWarning(listenerErr instanceof Error ? listenerErr : String(listenerErr));
      process.emitWarning(err instanceof Error ? err : String(err));
    }
  }
}
