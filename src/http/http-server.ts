/**
 * The HTTP server: a small router over node:http with a body-size cap and a deadline on reading the body.
 * Routes are registered by the composition root; while draining, every request gets 503.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, errorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: http.IncomingHttpHeaders;
  readonly raw: http.IncomingMessage;
  /** Reads the body (capped; rejects beyond the cap or after the deadline). */
  body(): Promise<Buffer>;
  /** Query string and, for form posts, the urlencoded body, merged (body wins). */
  params(): Promise<URLSearchParams>;
}

export interface HttpReply {
  readonly status: number;
  readonly headers?: Record<string, string | number>;
  readonly body?: string | Buffer | NodeJS.ReadableStream;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpReply>;

/**
 * Who may call a route: `public` (RetailCRM's callbacks from the internet, authenticated by token or clientId)
 * or `admin` (/metrics, /ready, the dashboard: only addresses in HTTP_ADMIN_ALLOW).
 */
export type RouteAccess = 'public' | 'admin';

interface Route {
  readonly methods: readonly string[];
  readonly match: (pathname: string) => boolean;
  readonly handler: HttpHandler;
  readonly access: RouteAccess;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpReply {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(body) };
}

class BodyTooLarge extends AppError {
  constructor() {
    super('INPUT_INVALID', 'request body too large');
  }
}

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly maxBodyBytes?: number;
  readonly bodyTimeoutMs?: number;
  /** Who may reach `admin` routes; absent: nobody but loopback. */
  readonly adminAllow?: (remoteAddress: string | undefined) => boolean;
  /** Told of each refused admin request (metrics). */
  readonly onAdminRefused?: (remoteAddress: string | undefined, pathname: string) => void;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export class HttpServer {
  private readonly routes: Route[] = [];
  private readonly server: http.Server;
  private draining = false;

  constructor(private readonly opts: HttpServerOptions) {
    this.server = http.createServer((req, res) => {
      this.dispatch(req, res).catch((err: unknown) => {
        opts.logger.error('http handler crashed', { code: errorCode(err), err });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"success":false,"error":"internal error"}');
      });
    });
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.server.keepAliveTimeout = 5_000;
  }

  route(
    methods: readonly string[],
    path: string | ((pathname: string) => boolean),
    handler: HttpHandler,
    options: { readonly access?: RouteAccess } = {},
  ): void {
    const match = typeof path === 'string' ? (p: string) => p === path : path;
    this.routes.push({ methods, match, handler, access: options.access ?? 'public' });
  }

  private adminAllowed(remoteAddress: string | undefined): boolean {
    return this.opts.adminAllow ? this.opts.adminAllow(remoteAddress) : LOOPBACK.test(remoteAddress ?? '');
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  startDraining(): void {
    this.draining = true;
  }

  async close(): Promise<void> {
    this.draining = true;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => this.server.closeAllConnections(), 2_000).unref();
    });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    let reply: HttpReply;
    if (this.draining) {
      reply = json(503, { success: false, error: 'shutting down' }, { connection: 'close' });
    } else {
      const candidates = this.routes.filter((r) => r.match(url.pathname));
      const route = candidates.find((r) => r.methods.includes(method));
      if (!route) {
        reply = candidates.length > 0
          ? json(405, { success: false, error: 'method not allowed' }, { allow: candidates.flatMap((r) => r.methods).join(', ') })
          : json(404, { success: false, error: 'not found' });
      } else if (route.access === 'admin' && !this.adminAllowed(req.socket.remoteAddress)) {
        this.opts.onAdminRefused?.(req.socket.remoteAddress, url.pathname);
        reply = json(403, { success: false, error: 'forbidden: this address is not in HTTP_ADMIN_ALLOW' });
      } else {
        try {
          reply = await route.handler(this.request(req, url, method));
        } catch (err) {
          if (err instanceof BodyTooLarge) reply = json(413, { success: false, error: err.message });
          else if (err instanceof AppError && err.code === 'INPUT_INVALID') reply = json(400, { success: false, error: err.message });
          else throw err;
        }
      }
    }
    res.writeHead(reply.status, reply.headers);
    const body = reply.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      res.end(body);
      return;
    }
    await new Promise<void>((resolve) => {
      body.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', () => resolve());
      body.pipe(res);
    });
  }

  private request(req: http.IncomingMessage, url: URL, method: string): HttpRequest {
    const max = this.opts.maxBodyBytes ?? 64 * 1024;
    const timeoutMs = this.opts.bodyTimeoutMs ?? 10_000;
    let bodyPromise: Promise<Buffer> | undefined;
    const body = (): Promise<Buffer> => {
      bodyPromise ??= new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const timer = setTimeout(() => {
          req.destroy();
          reject(new AppError('INPUT_INVALID', 'request body not received in time'));
        }, timeoutMs);
        req.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > max) {
            clearTimeout(timer);
            req.destroy();
            reject(new BodyTooLarge());
            return;
          }
          chunks.push(chunk);
        });
        req.on('end', () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        });
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      return bodyPromise;
    };
    return {
      method,
      url,
      headers: req.headers,
      raw: req,
      body,
      async params() {
        const merged = new URLSearchParams(url.search);
        const type = String(req.headers['content-type'] ?? '');
        if (method === 'POST' && type.startsWith('application/x-www-form-urlencoded')) {
          for (const [k, v] of new URLSearchParams((await body()).toString('utf8'))) merged.set(k, v);
        } else if (method === 'POST' && type.startsWith('application/json')) {
          let parsed: unknown;
          try {
            parsed = JSON.parse((await body()).toString('utf8') || '{}');
          } catch {
            throw new AppError('INPUT_INVALID', 'request body is not valid JSON');
          }
          if (parsed && typeof parsed === 'object') {
            for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
              if (v !== null && v !== undefined) merged.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
            }
          }
        }
        return merged;
      },
    };
  }
}
