/**
 * The boundary between got/undici/HTTP and our error types (STYLE.md §5): every RetailCRM answer and every got or
 * undici failure is translated here, once, into the Crm* errors of src/errors.ts. Nothing else in src/crm looks at
 * the HTTP libraries' errors.
 */
import { RequestError, TimeoutError as GotTimeoutError } from 'got';
import {
  CrmAuthError,
  CrmBadResponseError,
  CrmError,
  CrmHttpError,
  CrmNetworkError,
  CrmRateLimitedError,
  CrmTimeoutError,
} from '../lib/errors.js';

export type HeaderValue = string | string[] | undefined;

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP date (relative to `nowMs`); undefined when absent or
 * unreadable. Clamped at zero.
 */
export function parseRetryAfter(value: HeaderValue, nowMs: number = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/[a-z]{3}/i.test(text)) return undefined; // an HTTP-date names its weekday/month; "-1" is not a date
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function looksLikeHtml(body: string): boolean {
  return /^\s*</.test(body);
}

/** JSON body or undefined (HTML, empty, truncated). */
export function tryParseJson(body: string): unknown {
  if (!/^\s*[{[]/.test(body)) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function errorFields(json: unknown): { errorMsg: string | undefined; errors: unknown } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { errorMsg: undefined, errors: undefined };
  const obj = json as Record<string, unknown>;
  return { errorMsg: typeof obj.errorMsg === 'string' ? obj.errorMsg : undefined, errors: obj.errors };
}

const AUTH_MESSAGE = /apiKey|Access denied|Account does not exist/i;

/**
 * Turns a complete HTTP answer into its JSON body or throws the matching CrmError. A 2xx answer must be JSON with
 * `success` not false; its shape is checked later by the endpoint's parser.
 */
export function interpretResponse(status: number, headers: Record<string, HeaderValue>, body: string): unknown {
  if (status === 503 || status === 429) {
    throw new CrmRateLimitedError(status, parseRetryAfter(headers['retry-after']));
  }
  const json = tryParseJson(body);
  const { errorMsg, errors } = errorFields(json);
  const html = json === undefined && looksLikeHtml(body);

  if (status >= 200 && status < 300) {
    if (json === undefined) {
      throw new CrmBadResponseError(html ? 'HTML instead of JSON' : 'body is not valid JSON (truncated?)', status);
    }
    if ((json as { success?: unknown }).success === false) {
      throw new CrmHttpError(status, errorMsg, errors, false);
    }
    return json;
  }
  if (errorMsg !== undefined && AUTH_MESSAGE.test(errorMsg)) throw new CrmAuthError(status, errorMsg);
  if (status === 401) throw new CrmAuthError(status, errorMsg);
  // A missing account answers with an HTML page (404, or 405 for POST), not with the API's JSON.
  if ((status === 404 || status === 405) && json === undefined) {
    const hint = /Account does not exist/i.test(body) ? 'Account does not exist.' : 'HTML page: account does not exist?';
    throw new CrmAuthError(status, hint);
  }
  if (status >= 300 && status < 400) {
    const location = headers.location;
    throw new CrmHttpError(status, `redirect to ${String(location ?? '?')}: check the account URL`, undefined, false);
  }
  if (status >= 400) {
    throw new CrmHttpError(status, errorMsg, errors, status >= 500 || status === 408);
  }
  throw new CrmBadResponseError(`unexpected HTTP status ${status}`, status);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_SOCKET_CLOSED',
  'UND_ERR_SOCKET',
]);

/**
 * Any failure of the got call (no complete HTTP answer) → CrmTimeoutError / CrmNetworkError / CrmBadResponseError.
 * `timeoutMs` is the deadline the request ran under; an aborted `signal` (deadline or caller) is a timeout.
 */
export function translateRequestError(err: unknown, timeoutMs: number, signal?: AbortSignal): CrmError {
  if (err instanceof CrmError) return err;
  if (signal?.aborted || err instanceof GotTimeoutError || isAbort(err)) {
    return new CrmTimeoutError(timeoutMs, { cause: err });
  }
  if (err instanceof RequestError) {
    const code = err.code;
    if (err.name === 'ReadError' || code === 'ERR_READING_RESPONSE_STREAM') {
      return new CrmNetworkError(`connection broke while reading the answer (${code})`, { cause: err });
    }
    if (NETWORK_CODES.has(code) || err.name === 'RequestError') {
      return new CrmNetworkError(`${code}: ${err.message}`, { cause: err });
    }
    return new CrmNetworkError(`${err.name} ${code}: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  // undici (the hot paths in client.ts) fails with UND_ERR_* codes or the socket's system code (ECONNREFUSED, …).
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return new CrmNetworkError(`${code}: ${message}`, { cause: err });
  return new CrmNetworkError(message, { cause: err });
}

function isAbort(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'AbortError' || (err as { code?: unknown }).code === 'ERR_ABORTED';
}
