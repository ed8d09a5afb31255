/**
 * The logger: an error keeps its story (stack, cause chain, failures suppressed while handling it) and secrets stay
 * out of the log, whether under a secret key name or written inside an error's message, stack or cause.
 */
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { CrmNetworkError, withSuppressed } from '../../src/lib/errors.js';
import { createLogger, redactText } from '../../src/lib/logger.js';

const KEY = 'k3yV4lueThatMustNotLeak';

/** Logs once and returns the parsed JSON line. */
async function logLine(write: (logger: ReturnType<typeof createLogger>) => void): Promise<Record<string, unknown>> {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const logger = createLogger({ level: 'debug', stream });
  const flushed = new Promise<void>((resolve) => logger.once('finish', () => resolve()));
  write(logger);
  logger.end();
  await flushed;
  const text = Buffer.concat(chunks).toString('utf8').trim();
  return JSON.parse(text.split('\n')[0] ?? '{}') as Record<string, unknown>;
}

describe('logger', () => {
  // GIVEN an error wrapping a cause wrapping another WHEN it is logged THEN name, code, stack and the whole chain appear
  it('logs the stack and the cause chain', async () => {
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' });
    const middle = new TypeError('fetch failed', { cause: root });
    const err = new CrmNetworkError('fetch failed', { cause: middle });
    const line = await logLine((l) => l.error('delivery failed', { err }));
    const logged = line['err'] as Record<string, unknown>;
    expect(logged).to.include({ name: 'CrmNetworkError', code: 'CRM_NETWORK', message: 'RetailCRM unreachable: fetch failed' });
    expect(logged['stack']).to.be.a('string').and.match(/CrmNetworkError: RetailCRM unreachable/);
    const cause = logged['cause'] as Record<string, unknown>;
    expect(cause).to.include({ name: 'TypeError', message: 'fetch failed' });
    expect(cause['stack']).to.be.a('string');
    expect(cause['cause']).to.include({ name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:443' });
  });

  // GIVEN an API key inside an error's message and inside its cause WHEN it is logged THEN the key appears nowhere
  it('redacts an API key written inside an error message or its cause', async () => {
    const cause = new Error(`GET https://demo.retailcrm.ru/api/v5/telephony/manager?apiKey=${KEY}&phone=1 failed`);
    const err = new Error(`request with X-API-KEY: ${KEY} refused`, { cause });
    const line = await logLine((l) => l.warn('refused', { err, apiKey: KEY, request: { headers: { 'x-api-key': KEY } } }));
    const text = JSON.stringify(line);
    expect(text).not.to.include(KEY);
    const logged = line['err'] as Record<string, Record<string, unknown>>;
    expect(logged['message']).to.equal('request with X-API-KEY: [redacted] refused');
    expect(logged['cause']?.['message']).to.include('apiKey=[redacted]&phone=1');
    expect(line['apiKey']).to.equal('[redacted]');
  });

  // GIVEN a rollback that failed while a statement's error was being rethrown WHEN the error is logged THEN both appear
  it('logs a failure suppressed while handling the error', async () => {
    const err = new Error('duplicate key value violates unique constraint');
    withSuppressed(err, new Error('Connection terminated unexpectedly'));
    const line = await logLine((l) => l.error('insert failed', { err }));
    const logged = line['err'] as Record<string, unknown>;
    expect(logged['suppressed']).to.deep.equal([
      { name: 'Error', message: 'Connection terminated unexpectedly', stack: (logged['suppressed'] as { stack: string }[])[0]?.stack },
    ]);
    expect(Object.keys(err)).not.to.include('suppressed');
  });

  // GIVEN secrets in the shapes error texts quote them WHEN redacted THEN each value goes and the rest stays
  it('redacts secrets inside text', () => {
    const cases: [string, string][] = [
      [`apiKey=${KEY}&x=1`, 'apiKey=[redacted]&x=1'],
      [`{"api_key": "${KEY}"}`, '{"api_key": "[redacted]"}'],
      [`Authorization: Bearer ${KEY}`, 'Authorization: [redacted]'],
      [`postgres://app:${KEY}@db:5432/crm`, 'postgres://app:[redacted]@db:5432/crm'],
      ['no secret here: phone=+375291234567', 'no secret here: phone=+375291234567'],
    ];
    for (const [input, expected] of cases) expect(redactText(input), input).to.equal(expected);
  });
});
