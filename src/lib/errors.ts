/**
 * The one place where error types live. Every error the service raises or translates carries a stable `code`
 * (listed in docs/errors.md) and, where it wraps a third-party failure, the original as `cause`.
 * Third-party errors (got, pg, net) are translated once, at the boundary that called them.
 */

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'INPUT_INVALID'
  | 'ENTERPRISE_UNKNOWN'
  | 'SECRET_INVALID'
  | 'CRM_HTTP'
  | 'CRM_AUTH'
  | 'CRM_RATE_LIMITED'
  | 'CRM_TIMEOUT'
  | 'CRM_NETWORK'
  | 'CRM_BAD_RESPONSE'
  | 'CRM_OVERLOADED'
  | 'AGI_PROTOCOL'
  | 'AGI_HANGUP'
  | 'AGI_TIMEOUT'
  | 'AGI_CLOSED'
  | 'AGI_COMMAND_FAILED'
  | 'AMI_CONNECTION'
  | 'AMI_AUTH'
  | 'AMI_TIMEOUT'
  | 'AMI_ACTION'
  | 'AMI_PROTOCOL'
  | 'DB_MIGRATION'
  | 'DB_UNREACHABLE'
  | 'EMBEDDED_PG'
  | 'SECRET_KEY_MISMATCH'
  | 'KEYRING_INCOMPLETE'
  | 'KEY_IN_USE'
  | 'SHUTTING_DOWN'
  | 'AUDIT_CHAIN_BROKEN'
  | 'CRM_KEY_UNUSABLE'
  | 'BACKUP_FAILED'
  | 'RECONCILE_LOCKED';

export class AppError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Invalid or missing configuration; `problems` lists every one found, so boot reports them all at once. */
export class ConfigError extends AppError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** Bad input from a person or a caller of our API (CLI flags, HTTP parameters). */
export class InputError extends AppError {
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('INPUT_INVALID', message);
    this.field = field;
  }
}

export class EnterpriseUnknownError extends AppError {
  constructor(enterprise: string) {
    super('ENTERPRISE_UNKNOWN', `unknown enterprise ${JSON.stringify(enterprise)}`);
  }
}

export class SecretError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SECRET_INVALID', message, options);
  }
}

// ---- RetailCRM -------------------------------------------------------------------------------------------

/** Base for every failure talking to RetailCRM. `retryable` says whether the same request may succeed later. */
export class CrmError extends AppError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  constructor(code: ErrorCode, message: string, opts: { retryable: boolean; status?: number; cause?: unknown }) {
    super(code, message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.status = opts.status;
  }
}

/** RetailCRM answered with an error status (4xx/5xx) and, where it could be parsed, its errorMsg/errors. */
export class CrmHttpError extends CrmError {
  readonly errorMsg: string | undefined;
  readonly errors: unknown;
  constructor(status: number, errorMsg: string | undefined, errors: unknown, retryable: boolean) {
    super('CRM_HTTP', `RetailCRM answered ${status}${errorMsg ? `: ${errorMsg}` : ''}`, { retryable, status });
    this.errorMsg = errorMsg;
    this.errors = errors;
  }
}

/** Wrong or missing API key, key without the scope, or an account that does not exist: fixing needs a person. */
export class CrmAuthError extends CrmError {
  readonly errorMsg: string | undefined;
  constructor(status: number, errorMsg: string | undefined) {
    super('CRM_AUTH', `RetailCRM refused the API key (${status}${errorMsg ? `: ${errorMsg}` : ''})`, {
      retryable: false,
      status,
    });
    this.errorMsg = errorMsg;
  }
}

/** 503/429: RetailCRM's rate limit. `retryAfterMs` comes from Retry-After when it was sent. */
export class CrmRateLimitedError extends CrmError {
  readonly retryAfterMs: number | undefined;
  constructor(status: number, retryAfterMs: number | undefined) {
    super('CRM_RATE_LIMITED', `RetailCRM rate limit (${status})`, { retryable: true, status });
    this.retryAfterMs = retryAfterMs;
  }
}

export class CrmTimeoutError extends CrmError {
  constructor(timeoutMs: number, options?: { cause?: unknown }) {
    super('CRM_TIMEOUT', `RetailCRM did not answer within ${timeoutMs} ms`, { retryable: true, ...options });
  }
}

export class CrmNetworkError extends CrmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CRM_NETWORK', `RetailCRM unreachable: ${message}`, { retryable: true, ...options });
  }
}

/** A 2xx answer that is not the JSON the contract promises (HTML, truncated, wrong shape). */
export class CrmBadResponseError extends CrmError {
  constructor(message: string, status?: number) {
    super('CRM_BAD_RESPONSE', `RetailCRM sent an unusable answer: ${message}`, {
      retryable: true,
      ...(status === undefined ? {} : { status }),
    });
  }
}

/** Our own per-account limiter refused to queue more work (bounded in-flight requests). */
export class CrmOverloadedError extends CrmError {
  constructor(message: string) {
    super('CRM_OVERLOADED', message, { retryable: true });
  }
}

// ---- AGI --------------------------------------------------------------------------------------------------

export class AgiProtocolError extends AppError {
  constructor(message: string) {
    super('AGI_PROTOCOL', message);
  }
}

/** The channel hung up (Asterisk sent HANGUP, or answered 511 on a dead channel). */
export class AgiHangupError extends AppError {
  constructor(message = 'channel hung up') {
    super('AGI_HANGUP', message);
  }
}

export class AgiTimeoutError extends AppError {
  constructor(message: string) {
    super('AGI_TIMEOUT', message);
  }
}

/** The TCP connection closed (or errored) while a command was outstanding. */
export class AgiClosedError extends AppError {
  constructor(message = 'AGI connection closed', options?: { cause?: unknown }) {
    super('AGI_CLOSED', message, options);
  }
}

/** Asterisk answered a command with 510/520 or another non-200 code. */
export class AgiCommandError extends AppError {
  readonly responseCode: number;
  constructor(responseCode: number, message: string) {
    super('AGI_COMMAND_FAILED', message);
    this.responseCode = responseCode;
  }
}

// ---- AMI --------------------------------------------------------------------------------------------------

export class AmiConnectionError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AMI_CONNECTION', message, options);
  }
}

export class AmiAuthError extends AppError {
  constructor(message: string) {
    super('AMI_AUTH', message);
  }
}

export class AmiTimeoutError extends AppError {
  constructor(action: string, timeoutMs: number) {
    super('AMI_TIMEOUT', `AMI action ${action} got no answer within ${timeoutMs} ms`);
  }
}

export class AmiActionError extends AppError {
  readonly response: Readonly<Record<string, string>>;
  constructor(action: string, message: string, response: Readonly<Record<string, string>>) {
    super('AMI_ACTION', `AMI action ${action} failed: ${message}`);
    this.response = response;
  }
}

export class AmiProtocolError extends AppError {
  constructor(message: string) {
    super('AMI_PROTOCOL', message);
  }
}

export class MigrationError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DB_MIGRATION', message, options);
  }
}

/** Another reconciler (a running service) holds the enterprise's reconcile lock. */
export class ReconcileLockedError extends AppError {
  constructor(enterprise: string) {
    super('RECONCILE_LOCKED', `enterprise ${enterprise} is being reconciled right now (by a running service); try again`);
  }
}

/** The database in DATABASE_URL (or the running service's embedded one) does not answer. */
export class DatabaseUnreachableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DB_UNREACHABLE', message, options);
  }
}

/** The embedded PostgreSQL cannot be set up or started; the message says why and what to do. */
export class EmbeddedPostgresError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EMBEDDED_PG', message, options);
  }
}

/** SECRET_KEY is not the key this database was set up with (src/secrets/key-check.ts). */
export class SecretKeyMismatchError extends AppError {
  constructor(message: string) {
    super('SECRET_KEY_MISMATCH', message);
  }
}

/** The database needs keys (after `secret rotate`) that this process's keyring lacks: the keyring file is missing or old. */
export class KeyringIncompleteError extends AppError {
  constructor(message: string) {
    super('KEYRING_INCOMPLETE', message);
  }
}

/** `secret retire` refused: stored secrets still name the key, or it is the current one. */
export class KeyInUseError extends AppError {
  constructor(message: string) {
    super('KEY_IN_USE', message);
  }
}

export class ShuttingDownError extends AppError {
  constructor() {
    super('SHUTTING_DOWN', 'the service is shutting down');
  }
}

/** `audit verify` found a row whose hash or link to the previous row does not match: edited or deleted rows. */
export class AuditChainBrokenError extends AppError {
  readonly rowId: number;
  constructor(rowId: number, problem: string) {
    super('AUDIT_CHAIN_BROKEN', `audit log broken at row ${rowId}: ${problem}`);
    this.rowId = rowId;
  }
}

/** `enterprise add|check`: RetailCRM refuses the API key, or it lacks a scope or site the service needs. */
export class CrmKeyUnusableError extends AppError {
  readonly reasons: readonly string[];
  constructor(reasons: readonly string[]) {
    super('CRM_KEY_UNUSABLE', `the API key cannot work:\n  - ${reasons.join('\n  - ')}`);
    this.reasons = reasons;
  }
}

/** `backup` / `restore`: pg_dump or pg_restore missing, failed or too old, or the target database not empty. */
export class BackupError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKUP_FAILED', message, options);
  }
}

export function errorCode(err: unknown): string {
  return err instanceof AppError ? err.code : 'UNEXPECTED';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A second failure met while handling a first (a rollback that fails after the statement that failed): it rides
 * along on the first as `suppressed`, so the error that is rethrown keeps its type and code and the log shows both.
 */
export function withSuppressed(primary: unknown, secondary: unknown): void {
  if (!(primary instanceof Error)) return;
  const holder = primary as Error & { suppressed?: unknown[] };
  if (Array.isArray(holder.suppressed)) holder.suppressed.push(secondary);
  else Object.defineProperty(holder, 'suppressed', { value: [secondary], enumerable: false, configurable: true, writable: true });
}
