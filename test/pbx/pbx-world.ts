/**
 * Everything a PBX-tier scenario runs against: a real Asterisk 22 pbx + sim (lab.ts), the real service process
 * set up with its own CLI, a fresh real PostgreSQL database, and the fake RetailCRM (the only fake: RetailCRM
 * cannot be reached from here). When no Asterisk build is available the tier is skipped with the reason printed,
 * unless RCRM_REQUIRE_PBX=1 (CI), where that is a failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../helpers/async.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { FakeRetailCrm, type FakeUser } from '../fakes/fake-retailcrm.js';
import { AsteriskLab, findAsterisk, type LabOptions } from './lab.js';
import { freePort } from '../helpers/ports.js';
import { cliOk, ServiceProcess } from './service-process.js';

export const ENTERPRISE = '0367';
export const DID = '17175550100';
export const SECRET = 'pbx-tier-secret-key-0123456789-abcdefghij';
export const MANAGERS = { '101': 11, '102': 12, '103': 13 } as const;

export interface PbxWorld {
  readonly lab: AsteriskLab;
  readonly crm: FakeRetailCrm;
  readonly db: TestDatabase;
  readonly env: Readonly<Record<string, string>>;
  service: ServiceProcess;
  readonly users: Readonly<Record<keyof typeof MANAGERS, FakeUser>>;
  /** kill -9 or SIGTERM the service, then start it again with the same set-up. */
  restartService(how: 'kill' | 'term'): Promise<void>;
  stop(): Promise<void>;
}

export interface WorldOptions {
  readonly lab?: Partial<Omit<LabOptions, 'prefix' | 'runDir' | 'agiPort'>>;
  readonly env?: Readonly<Record<string, string>>;
  readonly enterpriseFlags?: readonly string[];
  /** Scopes the fake RetailCRM key has beyond its defaults (e.g. task_write), granted before `enterprise add`. */
  readonly crmScopes?: readonly string[];
}

/**
 * Registers the suite's hooks: the world started before its tests (then `setUp`), each scenario settled after
 * it (`beforeSettle` first, e.g. RetailCRM back to normal), the timings printed and the world stopped at the end.
 * `use` receives the world once it is up.
 */
export function usePbxWorld(
  use: (world: PbxWorld) => void,
  opts: WorldOptions & { setUp?: (world: PbxWorld) => Promise<void>; beforeSettle?: (world: PbxWorld) => void } = {},
): void {
  let world: PbxWorld | undefined;
  before(async function () {
    this.timeout(240_000);
    world = await startPbxWorld(this, opts);
    use(world);
    await opts.setUp?.(world);
  });
  after(async function () {
    this.timeout(60_000);
    printTimings(this.test?.parent?.title ?? '');
    await world?.stop();
  });
  afterEach(async function () {
    if (!world) return;
    opts.beforeSettle?.(world);
    await settle(world, this.currentTest?.title ?? '');
  });
}

/** Starts the world, or skips the suite (this.skip()) when there is no Asterisk build and it is not required. */
export async function startPbxWorld(ctx: Mocha.Context, opts: WorldOptions = {}): Promise<PbxWorld> {
  const found = await findAsterisk();
  if ('missing' in found) {
    const why = `PBX tier not run: ${found.missing}`;
    if (process.env['RCRM_REQUIRE_PBX'] === '1') throw new Error(`${why} (RCRM_REQUIRE_PBX=1)`);
    console.log(`\n  *** ${why}; build it with test/pbx/build-asterisk.sh ***\n`);
    ctx.skip();
  }
  const prefix = (found as { prefix: string }).prefix;
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-pbx-'));
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-pbx-data-'));
  const db = await createTestDatabase();
  const crm = await FakeRetailCrm.start();
  crm.account().scopes.push(...(opts.crmScopes ?? []));
  const agiPort = await freePort();
  const httpPort = await freePort();
  let lab: AsteriskLab | undefined;
  try {
    lab = await AsteriskLab.start({ prefix, runDir, agiPort, cdrDatabaseUrl: db.url, ...opts.lab });
    const env: Record<string, string> = {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      SECRET_KEY: SECRET,
      AGI_HOST: '127.0.0.1',
      AGI_PORT: String(agiPort),
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
      RECORDINGS_DIR: lab.recordingsDir,
      LOG_LEVEL: 'info',
      SYNC_POLL_INTERVAL_MS: '0',
      OUTBOX_POLL_INTERVAL_MS: '200',
      SHUTDOWN_DRAIN_MS: '5000',
      ...opts.env,
    };
    const users = {
      '101': crm.addUser({ id: MANAGERS['101'], firstName: 'Anna', lastName: 'Petrova', code: '101' }),
      '102': crm.addUser({ id: MANAGERS['102'], firstName: 'Boris', lastName: 'Ivanov', code: '102' }),
      '103': crm.addUser({ id: MANAGERS['103'], firstName: 'Vera', lastName: 'Sidorova', code: '103' }),
    };
    await cliOk(['migrate'], env);
    await cliOk(['enterprise', 'add', '--number', ENTERPRISE, '--crm-url', crm.url, '--api-key', crm.apiKey, '--country', 'BY',
      '--site', 'shop1', '--timezone', 'Europe/Minsk', ...(opts.enterpriseFlags ?? [])], env);
    for (const [ext, id] of Object.entries(MANAGERS)) await cliOk(['extension', 'set', '--enterprise', ENTERPRISE, '--ext', ext, '--user-id', String(id)], env);
    const service = await ServiceProcess.start(env);
    const started = lab;
    const world: PbxWorld = {
      lab: started,
      crm,
      db,
      env,
      service,
      users,
      async restartService(how) {
        if (how === 'kill') await world.service.kill();
        else {
          // systemd's stop: drained, then exit 0 (anything else would be a failed stop for systemd).
          const code = await world.service.stop();
          if (code !== 0) throw new Error(`serve exited ${code} on SIGTERM`);
        }
        world.service = await ServiceProcess.start(env);
      },
      async stop() {
        await world.service.stop();
        await started.stop();
        await crm.close();
        await db.drop();
        await rm(runDir, { recursive: true, force: true });
        await rm(dataDir, { recursive: true, force: true });
      },
    };
    return world;
  } catch (err) {
    await lab?.stop();
    await crm.close();
    await db.drop();
    throw err;
  }
}

/** Waits for the call's history entry in the fake RetailCRM (the upload of the call whose phone is `phone`). */
export async function uploadedCall(world: PbxWorld, match: (call: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor('the call upload in RetailCRM', () => {
    found = [...world.crm.account().calls.values()].find((c) => match(c as Record<string, unknown>)) as Record<string, unknown> | undefined;
    return found !== undefined;
  }, timeoutMs);
  return found as Record<string, unknown>;
}

/**
 * The call/event requests RetailCRM received for a call, in order, once its hangup event has arrived (it is
 * delivered beside the upload, so it may come a moment after it).
 */
export async function callEvents(world: PbxWorld, externalId: string): Promise<Record<string, unknown>[]> {
  const events = (): Record<string, unknown>[] =>
    world.crm.account().events.filter((e) => (e as Record<string, unknown>)['callExternalId'] === externalId) as Record<string, unknown>[];
  await waitFor('the hangup event in RetailCRM', () => events().some((e) => e['type'] === 'hangup'), 20_000);
  return events();
}

/** /incoming and /outgoing times seen from Asterisk, per scenario, for the tier's summary. */
const timings: { scenario: string; incoming: number[]; outgoing: number[] }[] = [];
let lastSettled = 0;
/** How many lost call-setup replies of each lab have been reported already. */
const lostReported = new WeakMap<AsteriskLab, number>();

/**
 * Ends a scenario: every channel gone (hung up if needed), and the FastAGI times Asterisk saw during it noted.
 * Fails when the lab itself lost a call-setup reply meanwhile: a phone then rang seconds late, so what the
 * scenario saw (a missed call, a long wait) says nothing about the service.
 */
export async function settle(world: PbxWorld, scenario: string): Promise<void> {
  await world.lab.hangupAll();
  await world.lab.waitIdle();
  const incoming = world.lab.agiTimes('incoming', lastSettled);
  const outgoing = world.lab.agiTimes('outgoing', lastSettled);
  if (incoming.length + outgoing.length > 0) timings.push({ scenario, incoming, outgoing });
  lastSettled = Date.now();
  const lost = await world.lab.lostSetupReplies();
  const reported = lostReported.get(world.lab) ?? 0;
  lostReported.set(world.lab, lost.length);
  if (lost.length > reported) {
    throw new Error(`the PBX lab lost ${lost.length - reported} IAX2 call-setup repl${lost.length - reported === 1 ? 'y' : 'ies'} ` +
      `during "${scenario}" (a phone rang 2 s late or not at all; see test/pbx/lab/pbx/iax.conf):\n${lost.slice(reported).join('\n')}`);
  }
}

/** Prints what settle() noted: one line per scenario. */
export function printTimings(suite: string): void {
  if (timings.length === 0) return;
  console.log(`\n    FastAGI times seen from Asterisk (${suite}), ms:`);
  for (const t of timings.splice(0)) {
    const parts = [t.incoming.length ? `/incoming ${t.incoming.join(', ')}` : '', t.outgoing.length ? `/outgoing ${t.outgoing.join(', ')}` : ''];
    console.log(`      ${t.scenario}: ${parts.filter(Boolean).join('; ')}`);
  }
}
