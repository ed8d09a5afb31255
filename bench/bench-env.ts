/**
 * Benchmark set-up shared by the scenarios: a throw-away database on the local PostgreSQL (TEST_DATABASE_URL or
 * 127.0.0.1:5432), a fake RetailCRM, and the real service started through its composition root.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { EnterpriseStore } from '../src/db/enterprise-store.js';
import { ExtensionStore } from '../src/db/extension-store.js';
import { createPool, type Pool } from '../src/db/pool.js';
import { createLogger } from '../src/lib/logger.js';
import { startService, type Service } from '../src/main.js';
import { createSecretBox } from '../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../test/fakes/fake-retailcrm.js';

const adminUrl = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECRET = 'bench-secret-key-0123456789-abcdefghijkl';

export interface BenchEnv {
  readonly service: Service;
  /** The throw-away database's name. */
  readonly database: string;
  readonly crm: FakeRetailCrm;
  readonly pool: Pool;
  stop(): Promise<void>;
}

/** One statement on its own connection (create or drop a bench database); every bench uses this one. */
export async function adminQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export interface EnvOptions {
  readonly crmRates?: { telephony: number; general: number };
  readonly env?: Record<string, string>;
}

export async function startBenchEnv(settings: Record<string, unknown> = {}, opts: EnvOptions = {}): Promise<BenchEnv> {
  const crm = await FakeRetailCrm.start();
  const env = await startServiceFor(crm, settings, opts);
  return {
    ...env,
    crm,
    async stop() {
      await env.stop();
      await crm.close();
    },
  };
}

/** The service on a fresh database, its enterprise 0367 pointing at `crm` (which the caller starts and stops). */
export async function startServiceFor(
  crm: { readonly url: string; readonly apiKey: string },
  settings: Record<string, unknown> = {},
  opts: EnvOptions = {},
): Promise<Omit<BenchEnv, 'crm'>> {
  const dbName = `rcrm_bench_${process.pid}_${Date.now()}`;
  await adminQuery(adminUrl, `create database ${dbName}`);
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-bench-'));
  const config = loadConfig({
    DATABASE_URL: url.toString(),
    DATA_DIR: dataDir,
    AGI_PORT: '0',
    AGI_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    SECRET_KEY: SECRET,
    LOG_LEVEL: 'warn',
    AGI_MAX_SESSIONS: '5000',
    CRM_MAX_IN_FLIGHT: '1000',
    DB_POOL_MAX: '20',
    SYNC_POLL_INTERVAL_MS: '0',
    ...opts.env,
  });
  const logger = createLogger({ level: 'warn', silent: true });
  const service = await startService(config, logger, { crmRates: opts.crmRates ?? { telephony: 100_000, general: 100_000 } });
  const pool = createPool({ connectionString: url.toString(), max: 4 });
  const enterprises = new EnterpriseStore(pool, createSecretBox(SECRET));
  await enterprises.create({
    number: '0367',
    crmUrl: crm.url,
    apiKey: crm.apiKey,
    clientId: 'bench-client-id-0123456789',
    country: 'BY',
    site: 'shop1',
    settings: { autoCreateCustomers: false, ...settings },
  });
  await new ExtensionStore(pool).set('0367', '101', 7);
  return {
    service,
    database: dbName,
    pool,
    async stop() {
      await service.stop('bench');
      await pool.end();
      await adminQuery(adminUrl, `drop database if exists ${dbName} with (force)`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
