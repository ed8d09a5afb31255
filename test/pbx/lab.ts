/**
 * The PBX tier's lab: two real Asterisk 22 instances on 127.0.0.1 (test/pbx/lab/, from ../shared/asterisk/lab):
 * **pbx** runs the shipped dialplan/ files unchanged (only [globals] are set by the lab), **sim** plays the
 * carrier, the customers and the desk phones 101/102/103 over IAX2. Calls are driven through the sim's AMI;
 * what the phones showed is read from the sim's Newchannel events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AmiClient } from '../../src/ami/client.js';
import type { AmiMessage } from '../../src/ami/codec.js';
import { waitFor } from '../helpers/async.js';
import { projectRoot } from '../helpers/paths.js';
import { assertPortsFree, LAB_HOSTS, labPorts } from './lab-ports.js';

export type Endpoint = '101' | '102' | '103' | 'pstn';
export type EndpointMode = 'answer' | 'noanswer' | 'busy' | 'reject';

export interface LabOptions {
  /** Install prefix of the Asterisk build (test/pbx/find-asterisk.ts). */
  readonly prefix: string;
  /** A fresh directory for configs, spool, logs. */
  readonly runDir: string;
  /** The service's FastAGI port, written into the pbx's [globals]. */
  readonly agiPort: number;
  readonly ringSeconds?: number;
  readonly queueSeconds?: number;
  readonly memberRingSeconds?: number;
  /**
   * First of the 7 consecutive ports the lab takes (lab-ports.ts: pbx IAX2, sim carrier, phones 101-103 over
   * UDP; pbx and sim AMI over TCP). Default PBX_LAB_PORT_BASE or 4569, so two labs can run side by side.
   */
  readonly portBase?: number;
  /** The database cdr_pgsql writes the pbx's CDRs into (table asterisk_cdr); none: no CDRs in PostgreSQL. */
  readonly cdrDatabaseUrl?: string;
}

/** What a desk phone showed while it rang: the sim's channel for that phone, with the caller id it received. */
export interface PhoneRing {
  readonly phone: string;
  readonly callerIdNum: string;
  readonly callerIdName: string;
  readonly at: number;
}

const PBX_AMI = { username: 'crm', secret: 'crmsecret' };
const SIM_AMI = { username: 'sim', secret: 'simsecret' };

/** What the pbx logs when chan_iax2 drops a reply it cannot match to a call (a lost CALLTOKEN reply for call 1). */
const LOST_SETUP_REPLY = /Silently dropping frame without existent call number: 1$/;

class Instance {
  private exited: Promise<void>;
  private constructor(
    readonly name: string,
    private readonly binary: string,
    readonly confFile: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(name: string, binary: string, confFile: string): Instance {
    const child = spawn(binary, ['-C', confFile, '-f', '-n'], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    return new Instance(name, binary, confFile, child);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Runs a CLI command on this instance (asterisk -rx). */
  async cli(command: string): Promise<string> {
    return runCapture(this.binary, ['-C', this.confFile, '-rx', command]);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    await this.cli('core stop now').catch(() => '');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

function runCapture(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${binary} ${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}

async function render(src: string, dst: string, values: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const file of await readdir(src)) {
    let text = await readFile(path.join(src, file), 'utf8');
    for (const [key, value] of Object.entries(values)) text = text.split(`@${key}@`).join(value);
    await writeFile(path.join(dst, file), text);
  }
}

/** cdr_pgsql.conf's connection settings from a postgres:// URL. */
function cdrDatabase(url: string | undefined): Record<string, string> {
  if (url === undefined) return {};
  const u = new URL(url);
  return {
    CDR_PG_HOST: u.hostname,
    CDR_PG_PORT: u.port || '5432',
    CDR_PG_DBNAME: decodeURIComponent(u.pathname.slice(1)),
    CDR_PG_USER: decodeURIComponent(u.username),
    CDR_PG_PASSWORD: decodeURIComponent(u.password),
  };
}

async function connectAmi(port: number, username: string, secret: string): Promise<AmiClient> {
  return waitFor(
    `AMI on ${port} to come up`,
    async () => {
      const client = new AmiClient({ host: '127.0.0.1', port, username, secret, reconnect: false, keepaliveIntervalMs: 0, actionTimeoutMs: 15_000 });
      try {
        await client.connect();
        return client;
      } catch (err) {
        await client.close();
        throw err;
      }
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

export class AsteriskLab {
  /** Every phone ring the sim saw, in order. */
  readonly rings: PhoneRing[] = [];
  /** Every event of the pbx's AMI, for assertions on what the real PBX did. */
  readonly pbxEvents: AmiMessage[] = [];
  private readonly simChannelIds = new Set<string>();
  private originated = 0;

  private constructor(
    readonly pbxInstance: Instance,
    readonly simInstance: Instance,
    readonly pbx: AmiClient,
    readonly sim: AmiClient,
    readonly recordingsDir: string,
    /** The pbx's AMI port (user crm / crmsecret), for the service's click-to-call set-up. */
    readonly pbxAmiPort: number,
    /** The pbx's messages.log (logger.conf: notices, warnings, errors, verbose 3). */
    readonly pbxLog: string,
  ) {
    sim.on('event', (m) => this.onSimEvent(m));
    pbx.on('event', (m) => {
      if (this.pbxEvents.length < 100_000) this.pbxEvents.push(m);
    });
  }

  static async start(opts: LabOptions): Promise<AsteriskLab> {
    const binary = path.join(opts.prefix, 'sbin', 'asterisk');
    const confDir = path.join(opts.runDir, 'etc');
    const ports = labPorts(opts.portBase ?? Number(process.env['PBX_LAB_PORT_BASE'] ?? 4569));
    const values = {
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      ...Object.fromEntries(Object.entries(LAB_HOSTS).map(([k, v]) => [`${k}_HOST`, v])),
      ASTERISK_PREFIX: opts.prefix,
      ASTERISK_RUN: opts.runDir,
      CONFIG_DIR: confDir,
      DIALPLAN_DIR: path.join(projectRoot, 'dialplan'),
      AGI_PORT: String(opts.agiPort),
      RING_SECONDS: String(opts.ringSeconds ?? 6),
      QUEUE_SECONDS: String(opts.queueSeconds ?? 8),
      MEMBER_RING_SECONDS: String(opts.memberRingSeconds ?? 6),
      ...cdrDatabase(opts.cdrDatabaseUrl),
    };
    await assertPortsFree(ports);
    const labDir = path.join(projectRoot, 'test', 'pbx', 'lab');
    await render(path.join(labDir, 'pbx'), path.join(confDir, 'pbx'), values);
    if (opts.cdrDatabaseUrl === undefined) await rm(path.join(confDir, 'pbx', 'cdr_pgsql.conf'));
    await render(path.join(labDir, 'sim'), path.join(confDir, 'sim'), values);
    for (const inst of ['pbx', 'sim']) {
      for (const sub of ['cache', 'lib', 'run', 'log', 'spool/monitor']) await mkdir(path.join(opts.runDir, inst, sub), { recursive: true });
    }
    const pbxInstance = Instance.start('pbx', binary, path.join(confDir, 'pbx', 'asterisk.conf'));
    const simInstance = Instance.start('sim', binary, path.join(confDir, 'sim', 'asterisk.conf'));
    try {
      const [pbx, sim] = await Promise.all([
        connectAmi(ports['PBX_AMI'] as number, PBX_AMI.username, PBX_AMI.secret),
        connectAmi(ports['SIM_AMI'] as number, SIM_AMI.username, SIM_AMI.secret),
      ]);
      await Promise.all([pbxInstance.cli('core waitfullybooted'), simInstance.cli('core waitfullybooted')]);
      return new AsteriskLab(pbxInstance, simInstance, pbx, sim, path.join(opts.runDir, 'pbx', 'spool', 'monitor'), ports['PBX_AMI'] as number,
        path.join(opts.runDir, 'pbx', 'log', 'messages.log'));
    } catch (err) {
      await Promise.all([pbxInstance.stop(), simInstance.stop()]);
      throw err;
    }
  }

  private onSimEvent(m: AmiMessage): void {
    const event = m.get('Event');
    if (event === 'Newchannel') this.simChannelIds.add(m.get('Uniqueid') ?? '');
    // The pbx rings a desk phone (the sim's inbound channel in context `phones`, exten = the phone) or calls a
    // customer (context `pstn`: recorded as phone 'pstn').
    const context = m.get('Context');
    if (event === 'Newchannel' && (context === 'phones' || context === 'pstn')) {
      this.rings.push({
        phone: context === 'pstn' ? 'pstn' : (m.get('Exten') ?? ''),
        callerIdNum: m.get('CallerIDNum') ?? '',
        // AMI escapes " ' and \ in event values.
        callerIdName: (m.get('CallerIDName') ?? '').replace(/\\(.)/g, '$1'),
        at: Date.now(),
      });
    }
  }

  /** How an endpoint of the sim behaves on the next calls (AstDB sim/<ep>). */
  async setEndpoint(ep: Endpoint, mode: EndpointMode, opts: { ring?: number; talk?: number } = {}): Promise<void> {
    await this.dbPut(`sim`, ep, mode);
    await this.dbPut('sim', `${ep}_ring`, String(opts.ring ?? 2));
    await this.dbPut('sim', `${ep}_talk`, String(opts.talk ?? 4));
  }

  private async dbPut(family: string, key: string, value: string): Promise<void> {
    await this.sim.action('DBPut', { Family: family, Key: key, Val: value });
  }

  /**
   * A customer calls a DID: the sim's carrier channel calls the pbx. `giveUpAfterMs` = how long the customer
   * waits for an answer before hanging up; `talk` = seconds the customer talks before hanging up.
   */
  async callIn(did: string, from: string, opts: { giveUpAfterMs?: number; talk?: number } = {}): Promise<void> {
    await this.originate(`IAX2/carrier/${did}`, `<${from}>`, opts);
  }

  /** A desk phone dials a number (the pbx sees a call from the phone in from-internal). */
  async dialOut(phone: '101' | '102' | '103', number: string, opts: { giveUpAfterMs?: number; talk?: number } = {}): Promise<void> {
    await this.originate(`IAX2/ph${phone}/${number}`, `<${phone}>`, opts);
  }

  /** Originates on the sim and returns once its channel exists (so waitIdle() cannot see the lab idle before). */
  private async originate(channel: string, callerId: string, opts: { giveUpAfterMs?: number; talk?: number }): Promise<void> {
    const id = `lab-${process.pid}-${++this.originated}`;
    await this.sim.action('Originate', {
      Channel: channel,
      Context: 'caller',
      Exten: 'talk',
      Priority: '1',
      CallerID: callerId,
      Timeout: String(opts.giveUpAfterMs ?? 60_000),
      Async: 'true',
      ChannelId: id,
      Variable: `TALK=${opts.talk ?? 600}`,
    });
    await waitFor(`the sim's channel ${id}`, () => this.simChannelIds.has(id), 10_000);
  }

  /** Channels now up on an instance. */
  async channels(instance: 'pbx' | 'sim'): Promise<AmiMessage[]> {
    const client = instance === 'pbx' ? this.pbx : this.sim;
    const result = await client.action('CoreShowChannels');
    return [...result.events];
  }

  /** Waits until both instances have no channel left (the call is over on every leg). */
  async waitIdle(timeoutMs = 90_000): Promise<void> {
    await waitFor('the lab to have no channels', async () => (await this.channels('pbx')).length === 0 && (await this.channels('sim')).length === 0, timeoutMs);
  }

  /** The pbx channel of a desk phone's leg that is up and bridged with its peer now: ready to transfer. */
  async pbxChannelOf(phone: string): Promise<string | undefined> {
    const list = await this.channels('pbx');
    const bridged = (id: string): boolean => id !== '' && list.filter((c) => c.get('BridgeId') === id).length >= 2;
    return list
      .find((c) => (c.get('Channel') ?? '').startsWith(`IAX2/${phone}-`) && c.get('ChannelStateDesc') === 'Up' && bridged(c.get('BridgeId') ?? ''))
      ?.get('Channel');
  }

  /** Hangs up every channel of the sim (a scenario's clean-up). */
  async hangupAll(): Promise<void> {
    for (const c of await this.channels('sim')) {
      const name = c.get('Channel');
      if (name) await this.sim.action('Hangup', { Channel: name }).catch(() => undefined);
    }
  }

  /**
   * How long each run of a FastAGI script took, seen from Asterisk: from the Newexten that starts AGI(…/script)
   * to the channel's next Newexten (pbx AMI with timestampevents), in ms, for events after `since`.
   */
  agiTimes(script: string, since: number): number[] {
    const out: number[] = [];
    const open = new Map<string, number>();
    for (const e of this.pbxEvents) {
      if (e.get('Event') !== 'Newexten') continue;
      const ts = Number(e.get('Timestamp') ?? '0') * 1000;
      if (ts < since) continue;
      const channel = e.get('Channel') ?? '';
      const started = open.get(channel);
      if (started !== undefined) {
        out.push(Math.round(ts - started));
        open.delete(channel);
      }
      if (e.get('Application') === 'AGI' && (e.get('AppData') ?? '').includes(`/${script}?`)) open.set(channel, ts);
    }
    return out;
  }

  /**
   * Call-setup replies the pbx's chan_iax2 dropped so far (its messages.log): each one delayed a leg by at least
   * the 2 s of a retransmission, so a scenario that saw one does not show what the service did on time.
   */
  async lostSetupReplies(): Promise<string[]> {
    const text = await readFile(this.pbxLog, 'utf8').catch(() => '');
    return text.split('\n').filter((l) => LOST_SETUP_REPLY.test(l));
  }

  /**
   * The AGI commands of each run of a FastAGI script, as Asterisk reports them (pbx AMI AGIExecStart events between
   * the Newexten that starts AGI(…/script) and the channel's next Newexten), for events after `since`.
   */
  agiCommands(script: string, since: number): string[][] {
    const out: string[][] = [];
    const open = new Map<string, string[]>();
    for (const e of this.pbxEvents) {
      const ts = Number(e.get('Timestamp') ?? '0') * 1000;
      if (ts < since) continue;
      const channel = e.get('Channel') ?? '';
      if (e.get('Event') === 'AGIExecStart') {
        open.get(channel)?.push(e.get('Command') ?? '');
        continue;
      }
      if (e.get('Event') !== 'Newexten') continue;
      const run = open.get(channel);
      if (run !== undefined) {
        out.push(run);
        open.delete(channel);
      }
      if (e.get('Application') === 'AGI' && (e.get('AppData') ?? '').includes(`/${script}?`)) open.set(channel, []);
    }
    return out;
  }

  ringsSince(at: number, phone?: string): PhoneRing[] {
    return this.rings.filter((r) => r.at >= at && (phone === undefined || r.phone === phone));
  }

  async stop(): Promise<void> {
    await Promise.all([this.pbx.close(), this.sim.close()]);
    await Promise.all([this.pbxInstance.stop(), this.simInstance.stop()]);
  }
}

/** Where a built Asterisk is: ASTERISK_PREFIX, else the build cache test/pbx/build-asterisk.sh fills. */
export async function findAsterisk(): Promise<{ prefix: string } | { missing: string }> {
  const env = process.env['ASTERISK_PREFIX'];
  if (env) return existsSync(path.join(env, 'sbin', 'asterisk')) ? { prefix: env } : { missing: `ASTERISK_PREFIX=${env} has no sbin/asterisk` };
  try {
    const out = await runCapture('bash', [path.join(projectRoot, 'test', 'pbx', 'build-asterisk.sh'), '--check']);
    const prefix = out.trim().split('\n').pop() ?? '';
    return existsSync(path.join(prefix, 'sbin', 'asterisk')) ? { prefix } : { missing: 'no Asterisk build' };
  } catch (err) {
    return { missing: (err as Error).message.trim().split('\n').pop() ?? 'no Asterisk build' };
  }
}
