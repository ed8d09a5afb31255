/**
 * The HTTP server: fastify with one plugin per feature (registered by the composition root; this folder imports
 * no feature). It owns what every route shares: the error shape (`{success:false, error, code?, field?}` for every
 * 4xx/5xx, schema-validation 400s included), request ids (`x-request-id`, in every log line of the request), the
 * admin allow-list hook (HTTP_ADMIN_ALLOW), the body cap, the rate-limit and OpenAPI plugins, and draining
 * (new requests get 503 while in-flight ones finish).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  type onRequestAsyncHookHandler,
} from 'fastify';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { AppError, errorCode, InputError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for operator/admin routes: only addresses in HTTP_ADMIN_ALLOW get through. */
    adminOnly: onRequestAsyncHookHandler;
  }
  interface FastifyRequest {
    /** The service's logger with this request's id (`reqId`). */
    logger: Logger;
  }
}

/** The one body of every error answer. Routes may add fields RetailCRM's contract needs (e.g. `status`). */
export interface ErrorBody {
  readonly success: false;
  readonly error: string;
  readonly code?: string;
  readonly field?: string;
}

export function errorBody(error: string, extra: { code?: string; field?: string } = {}): ErrorBody {
  return { success: false, error, ...extra };
}

/** The JSON schema of {@link ErrorBody}, for route `response` declarations and the OpenAPI document. */
export const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    success: { type: 'boolean', const: false },
    error: { type: 'string' },
    code: { type: 'string' },
    field: { type: 'string' },
  },
  required: ['success'],
} as const;

/**
 * What a RetailCRM callback sent: the query string of a GET, the body (form or JSON) of a POST. RetailCRM sends
 * one or the other, never both, so nothing is merged.
 */
export function callerInput(request: FastifyRequest): Record<string, unknown> {
  const source = request.method === 'POST' ? request.body : request.query;
  return source !== null && typeof source === 'object' ? (source as Record<string, unknown>) : {};
}

/** A parameter of {@link callerInput} as text (numbers from JSON bodies included), or null. */
export function inputText(input: Record<string, unknown>, name: string): string | null {
  const v = input[name];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

export interface HttpServerOptions {
  readonly logger: Logger;
  readonly maxBodyBytes?: number;
  /** Who may reach admin routes; absent: nobody but loopback. */
  readonly adminAllow?: (remoteAddress: string | undefined) => boolean;
  /** Told of each refused admin request (metrics). */
  readonly onAdminRefused?: (remoteAddress: string | undefined, pathname: string) => void;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;
const INCOMING_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;
const FORCE_CLOSE_AFTER_MS = 2_000;

export class HttpServer {
  readonly app: FastifyInstance;
  private draining = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: HttpServerOptions) {
    const app = fastify({
      logger: false,
      bodyLimit: opts.maxBodyBytes ?? 64 * 1024,
      requestTimeout: 30_000,
      keepAliveTimeout: 5_000,
      // A proxy's id is kept so one request can be followed across both logs; anything odd gets a fresh one.
      genReqId: (req) => {
        const incoming = req.headers['x-request-id'];
        return typeof incoming === 'string' && INCOMING_REQUEST_ID.test(incoming) ? incoming : randomUUID();
      },
      ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
      // Our onRequest hook answers while draining, in the error shape and with the reason (fastify's own 503 has neither).
      return503OnClosing: false,
    });
    app.server.headersTimeout = 10_000;
    this.app = app;

    app.decorateRequest('logger', null as unknown as Logger);
    app.decorate('adminOnly', this.adminOnly);

    app.addHook('onRequest', async (request, reply) => {
      request.logger = opts.logger.child({ reqId: request.id });
      void reply.header('x-request-id', request.id);
      if (this.draining) {
        return reply.code(503).header('connection', 'close').send(errorBody('shutting down', { code: 'SHUTTING_DOWN' }));
      }
    });
    // An answer finished while draining closes its connection, so close() need not wait for keep-alive to time out.
    app.addHook('onSend', async (_request, reply, payload) => {
      if (this.draining) void reply.header('connection', 'close');
      return payload;
    });
    app.addHook('onResponse', async (request, reply) => {
      request.logger.debug('http request', {
        method: request.method,
        route: request.routeOptions.url ?? 'not found',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      });
    });
    app.setNotFoundHandler(async (_request, reply) => reply.code(404).send(errorBody('not found')));
    app.setErrorHandler(async (err: FastifyError, request, reply) => this.replyWithError(err, request, reply));

    void app.register(formbody);
    // Rate limits are opt-in per route (`config.rateLimit`); the limited request gets the usual error shape.
    void app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_req, ctx) =>
        Object.assign(new Error(`too many requests; retry in ${ctx.after}`), { statusCode: ctx.statusCode, code: 'RATE_LIMITED' }),
    });
    void app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'retailcrm-agi HTTP API',
          description: 'RetailCRM callbacks (makeCallUrl, changeUserStatusUrl, triggers), recordings, health and the analytics dashboard.',
          version: '1',
        },
      },
    });
  }

  private readonly adminOnly: onRequestAsyncHookHandler = async (request, reply) => {
    const remote = request.socket.remoteAddress;
    const allowed = this.opts.adminAllow ? this.opts.adminAllow(remote) : LOOPBACK.test(remote ?? '');
    if (allowed) return;
    this.opts.onAdminRefused?.(remote, request.url.split('?')[0] ?? request.url);
    return reply.code(403).send(errorBody('forbidden: this address is not in HTTP_ADMIN_ALLOW'));
  };

  private async replyWithError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (err.validation) {
      return reply.code(400).send(errorBody(err.message, { code: 'INPUT_INVALID' }));
    }
    if (err instanceof InputError) {
      return reply.code(400).send(errorBody(err.message, { code: err.code, ...(err.field ? { field: err.field } : {}) }));
    }
    if (err instanceof AppError && err.code === 'INPUT_INVALID') return reply.code(400).send(errorBody(err.message, { code: err.code }));
    const status = err.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.code(status).send(errorBody(err.message, typeof err.code === 'string' ? { code: err.code } : {}));
    }
    request.logger.error('http handler crashed', { code: errorCode(err), err });
    return reply.code(500).send(errorBody('internal error'));
  }

  /** Adds one feature's plugin; errors in it surface at `ready()`/`listen()`. */
  register<O extends object>(plugin: FastifyPluginAsync<O>, options: O): void {
    void this.app.register(plugin, options);
  }

  async ready(): Promise<void> {
    await this.app.ready();
  }

  async listen(port: number, host: string): Promise<number> {
    await this.app.listen({ port, host });
    return (this.app.server.address() as AddressInfo).port;
  }

  /** The OpenAPI document of every registered route, generated from their schemas. */
  async openapi(): Promise<unknown> {
    await this.app.ready();
    return this.app.swagger();
  }

  startDraining(): void {
    this.draining = true;
  }

  /**
   * Refuses new requests, lets in-flight ones finish, closes idle keep-alive connections; forces the rest after
   * 2 s. Idempotent.
   */
  close(): Promise<void> {
    this.draining = true;
    this.closing ??= (async () => {
      const force = setTimeout(() => this.app.server.closeAllConnections(), FORCE_CLOSE_AFTER_MS);
      force.unref();
      try {
        await this.app.close();
      } finally {
        clearTimeout(force);
      }
    })();
    return this.closing;
  }
}
