/**
 * The whole service for component tests: a fresh real PostgreSQL database, a fake RetailCRM, the composition root
 * (startService) on port 0 with a silent logger, and one enterprise seeded. `stop()` releases everything.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config.js';
import { EnterpriseStore, type EnterpriseInput } from '../../src/db/enterprise-store.js';
import { ExtensionStore } from '../../src/db/extension-store.js';
import { createLogger } from '../../src/lib/logger.js';
import { startService, type Service, type ServiceOverrides } from '../../src/main.js';
import { createSecretBox } from '../../src/secrets/secret-box.js';
import { FakeRetailCrm } from '../fakes/fake-retailcrm.js';
import { waitFor } from './async.js';
import { createTestDatabase, type TestDatabase } from './pg.js';

export const TEST_SECRET = 'test-secret-key-0123456789-abcdefghij';
export const ENTERPRISE = '0367';
export const CLIENT_ID = 'client-id-for-tests-0367';

export interface TestService {
  readonly service: Service;
  readonly crm: FakeRetailCrm;
  readonly db: TestDatabase;
  readonly config: Config;
  readonly enterprises: EnterpriseStore;
  readonly extensions: ExtensionStore;
  readonly recordingsDir: string;
  stop(): Promise<void>;
}

export interface TestServiceOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly enterprise?: Partial<EnterpriseInput>;
  readonly extensions?: Readonly<Record<string, number>>;
  readonly overrides?: ServiceOverrides;
  /** Reuse a database (two instances on one database). */
  readonly db?: TestDatabase;
  readonly crm?: FakeRetailCrm;
  readonly seed?: boolean;
}

export async function startTestService(opts: TestServiceOptions = {}): Promise<TestService> {
  const db = opts.db ?? (await createTestDatabase());
  const crm = opts.crm ?? (await FakeRetailCrm.start());
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-data-'));
  const recordingsDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-rec-'));
  const config = loadConfig({
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    AGI_PORT: '0',
    AGI_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    SECRET_KEY: TEST_SECRET,
    LOOKUP_BUDGET_MS: '300',
    CRM_TIMEOUT_MS: '2000',
    SHUTDOWN_DRAIN_MS: '2000',
    RECORDINGS_DIR: recordingsDir,
    PUBLIC_URL: 'https://pbx.example.com',
    LOG_LEVEL: 'error',
    SYNC_POLL_INTERVAL_MS: '0',
    MANAGER_STATUS_SYNC_MS: '0',
    ...opts.env,
  });
  const box = createSecretBox(TEST_SECRET);
  const enterprises = new EnterpriseStore(db.pool, box);
  const extensions = new ExtensionStore(db.pool);
  if (opts.seed !== false && (await enterprises.find(ENTERPRISE)) === null) {
    await enterprises.create({
      number: ENTERPRISE,
      crmUrl: crm.url,
      apiKey: crm.apiKey,
      clientId: CLIENT_ID,
      country: 'BY',
      site: 'shop1',
      ...opts.enterprise,
    });
    for (const [ext, userId] of Object.entries(opts.extensions ?? { '101': 7, '102': 8, '103': 9 })) {
      await extensions.set(ENTERPRISE, ext, userId);
    }
  }
  const logger = createLogger({ level: 'error', silent: true });
  const service = await startService(config, logger, { crmRates: { telephony: 1000, general: 1000 }, ...opts.overrides });
  return {
    service,
    crm,
    db,
    config: { ...config, agiPort: service.agiPort, httpPort: service.httpPort },
    enterprises,
    extensions,
    recordingsDir,
    async stop() {
      await service.stop('test');
      if (!opts.crm) await crm.close();
      if (!opts.db) await db.drop();
      await rm(dataDir, { recursive: true, force: true });
      await rm(recordingsDir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until the outbox has no job left to deliver: every job enqueued so far (in the same transaction as its call
 * row) has reached RetailCRM or been given up. After it, "RetailCRM got nothing more" is a fact, not a race.
 */
export async function waitForOutboxSettled(t: Pick<TestService, 'db'>): Promise<void> {
  await waitFor('the outbox to have no pending job', async () => {
    const { rows } = await t.db.pool.query<{ kind: string }>("select kind from outbox_jobs where state = 'pending'");
    if (rows.length > 0) throw new Error(`pending: ${rows.map((r) => r.kind).join(', ')}`);
    return true;
  });
}
