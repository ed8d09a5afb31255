/** Component tests of AmiClient against the in-process fake Asterisk (test/fakes/fake-ami.ts), port 0. */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { expect } from 'chai';
import { AmiClient } from '../../src/ami/client.js';
import {
  AmiOriginateError,
  DEFAULT_RECONNECT_POLICY,
  reconnectBackoff,
  type AmiClientOptions,
  type AmiClientState,
} from '../../src/ami/client-options.js';
import type { AmiMessage } from '../../src/ami/codec.js';
import { backoffDelay } from '../../src/lib/backoff.js';
import type { HangupEvent, OriginateResponseEvent } from '../../src/ami/types.js';
import {
  AmiActionError,
  AmiAuthError,
  AmiConnectionError,
  AmiProtocolError,
  AmiTimeoutError,
} from '../../src/lib/errors.js';
import { FakeAmi } from '../fakes/fake-ami.js';
import { fixturePath } from '../helpers/paths.js';
import { rejection, waitFor } from '../helpers/async.js';


/**
 * Waits for the client to reach `state`, counting a state it passed through since the call (a `disconnected` that
 * lasts one reconnect delay is easy to miss by looking); the failure names the states it went through.
 */
async function waitForState(client: AmiClient, state: AmiClientState): Promise<void> {
  const seen: AmiClientState[] = [client.state];
  const onState = (s: AmiClientState): number => seen.push(s);
  client.on('state', onState);
  try {
    await waitFor(`the client to be ${state}`, () => {
      if (!seen.includes(state)) throw new Error(`the client went through ${seen.join(' → ')}`);
      return true;
    });
  } finally {
    client.off('state', onState);
  }
}

/** Collects the reconnect delays a client schedules (its `AMI reconnect scheduled` log lines), in order. */
function reconnectDelays(): { onLog: AmiClientOptions['onLog']; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    onLog: (_level, message, fields) => {
      if (message === 'AMI reconnect scheduled') delays.push(Number(fields?.['delayMs']));
    },
  };
}

const ORIGINATE = {
  channel: 'IAX2/101/101',
  context: 'from-internal',
  exten: '+375297654321',
  callerId: '"CRM: +375297654321" <101>',
  variables: { CRM_CALL_ID: 'crm-42' },
  timeoutMs: 20_000,
} as const;

describe('AmiClient (against the fake AMI)', () => {
  let fake: FakeAmi;
  const clients: AmiClient[] = [];

  function makeClient(overrides: Partial<AmiClientOptions> = {}): AmiClient {
    const client = new AmiClient({
      host: '127.0.0.1',
      port: fake.port,
      username: 'crm',
      secret: 'crmsecret',
      keepaliveIntervalMs: 0,
      connectTimeoutMs: 1_000,
      loginTimeoutMs: 1_000,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200, factor: 2, jitter: 0.2 },
      ...overrides,
    });
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    fake = await FakeAmi.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await fake.close();
  });

  describe('login', () => {
    it('logs in with Username/Secret and reports connected', async () => {
      // GIVEN a PBX accepting crm/crmsecret WHEN connect() THEN Login is sent, state is connected and FullyBooted is emitted
      const client = makeClient();
      const states: AmiClientState[] = [];
      const booted: string[] = [];
      client.on('state', (s) => states.push(s));
      client.on('FullyBooted', (e) => booted.push(e.status));
      await client.connect();
      expect(client.state).to.equal('connected');
      expect(client.banner).to.equal('Asterisk Call Manager/11.0.0');
      expect(states).to.deep.equal(['connecting', 'connected']);
      const [login] = fake.actionsNamed('Login');
      expect(login?.fields).to.include({ username: 'crm', secret: 'crmsecret', events: 'on' });
      expect(login?.actionId).to.be.a('string');
      await waitFor('FullyBooted', () => booted.length === 1);
    });

    it('rejects a wrong secret with AmiAuthError and does not retry on its own', async () => {
      // GIVEN a wrong secret WHEN connect() THEN AmiAuthError after the server's delay, state disconnected, no retry storm
      const log = reconnectDelays();
      const client = makeClient({ secret: 'wrong-secret', onLog: log.onLog });
      const err = await rejection(client.connect());
      expect(err).to.be.instanceOf(AmiAuthError);
      expect((err as Error).message).to.contain('Authentication failed');
      expect(client.state).to.equal('disconnected');
      // connect() has settled, so the client has decided: a retry would already be scheduled (and logged).
      expect(log.delays).to.deep.equal([]);
      expect(fake.connectionCount).to.equal(1);
    });

    it('backs off for authRetryDelayMs after an auth failure in background mode', async () => {
      // GIVEN start() with a wrong secret and a long auth retry delay WHEN login fails THEN no second attempt soon
      const log = reconnectDelays();
      const client = makeClient({ secret: 'wrong-secret', authRetryDelayMs: 60_000, onLog: log.onLog });
      client.start();
      await waitFor('first login', () => fake.actionsNamed('Login').length === 1);
      await waitFor('the retry to be scheduled', () => log.delays.length === 1);
      expect(log.delays[0]).to.be.at.least(60_000);
      expect(fake.connectionCount).to.equal(1);
      expect(client.state).to.equal('disconnected');
    });

    it('refuses a peer that does not send an AMI banner', async () => {
      // GIVEN a server whose first line is not `Asterisk Call Manager/…` WHEN connect() THEN a connection error, no Login sent
      const other = await FakeAmi.start({ banner: 'SSH-2.0-OpenSSH_9.6' });
      try {
        const client = makeClient({ port: other.port });
        const err = await rejection(client.connect());
        expect(err).to.be.instanceOf(AmiConnectionError);
        expect((err as Error).message).to.contain('not an Asterisk AMI banner');
        expect(other.actionsNamed('Login')).to.have.length(0);
      } finally {
        await other.close();
      }
    });

    it('reports a closed port as AmiConnectionError', async () => {
      // GIVEN a port nobody listens on WHEN connect() THEN AmiConnectionError quickly
      const probe = net.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const client = makeClient({ port });
      expect(await rejection(client.connect())).to.be.instanceOf(AmiConnectionError);
      expect(client.state).to.equal('disconnected');
    });
  });

  describe('actions', () => {
    it('correlates Ping by ActionID and returns the Pong response', async () => {
      // GIVEN a connected client WHEN action('Ping') THEN the response carries Ping: Pong and the same ActionID
      const client = makeClient();
      await client.connect();
      const { response, events } = await client.action('Ping');
      expect(response.get('ping')).to.equal('Pong');
      expect(events).to.have.length(0);
      expect(response.actionId).to.equal(fake.actionsNamed('Ping')[0]?.actionId);
    });

    it('uses a new ActionID for every action', async () => {
      // GIVEN several concurrent actions WHEN sent THEN every ActionID differs and each gets its own answer
      const client = makeClient();
      await client.connect();
      const results = await Promise.all([client.action('Ping'), client.action('CoreStatus'), client.action('Ping')]);
      const ids = fake.actions.map((a) => a.actionId);
      expect(new Set(ids).size).to.equal(ids.length);
      expect(results[1]?.response.get('CoreCurrentCalls')).to.equal('2');
    });

    it('collects an event list until EventList: Complete', async () => {
      // GIVEN CoreShowChannels as recorded during a call WHEN sent THEN both channels and the Complete event come back
      const client = makeClient();
      const seen: string[] = [];
      client.on('event', (m) => seen.push(m.type));
      await client.connect();
      const { response, events, complete } = await client.action('CoreShowChannels');
      expect(response.get('Message')).to.equal('Channels will follow');
      expect(events.map((e) => e.get('Channel'))).to.deep.equal(['IAX2/101-14883', 'IAX2/trunk-12302']);
      expect(complete?.get('ListItems')).to.equal('2');
      expect(seen).to.not.include('CoreShowChannel');
    });

    it('keeps every Output line of a Command answer', async () => {
      // GIVEN `core show channels concise` as recorded WHEN sent THEN both Output lines are returned in order
      const client = makeClient();
      await client.connect();
      const { response } = await client.action('Command', { Command: 'core show channels concise' });
      expect(response.output).to.have.length(2);
    });

    it('turns Response: Error into AmiActionError with the Message', async () => {
      // GIVEN an action the PBX does not know WHEN sent THEN AmiActionError carrying Asterisk's message
      const client = makeClient();
      await client.connect();
      const err = await rejection(client.action('NoSuchAction'));
      expect(err).to.be.instanceOf(AmiActionError);
      expect((err as AmiActionError).response['Message']).to.match(/^Invalid\/unknown command/);
      expect(client.pendingCount).to.equal(0);
    });

    it('rejects an unanswered action with AmiTimeoutError and stays usable', async () => {
      // GIVEN a PBX that never answers CoreStatus WHEN sent with a 100 ms deadline THEN AmiTimeoutError; Ping still works
      fake.silentActions.add('corestatus');
      const client = makeClient();
      await client.connect();
      const err = await rejection(client.action('CoreStatus', {}, { timeoutMs: 100 }));
      expect(err).to.be.instanceOf(AmiTimeoutError);
      expect(client.pendingCount).to.equal(0);
      expect((await client.action('Ping')).response.get('Ping')).to.equal('Pong');
    });

    it('stops waiting when the caller aborts', async () => {
      // GIVEN an unanswered action WHEN its signal aborts THEN it rejects with the abort reason and nothing stays pending
      fake.silentActions.add('corestatus');
      const client = makeClient();
      await client.connect();
      const controller = new AbortController();
      const pending = rejection(client.action('CoreStatus', {}, { signal: controller.signal, timeoutMs: 5_000 }));
      controller.abort(new Error('caller gave up'));
      expect(((await pending) as Error).message).to.equal('caller gave up');
      expect(client.pendingCount).to.equal(0);
    });

    it('refuses actions beyond maxPendingActions', async () => {
      // GIVEN a limit of 2 and two unanswered actions WHEN a third is sent THEN it is refused at once
      fake.silentActions.add('corestatus');
      const client = makeClient({ maxPendingActions: 2 });
      await client.connect();
      const a = rejection(client.action('CoreStatus', {}, { timeoutMs: 300 }));
      const b = rejection(client.action('CoreStatus', {}, { timeoutMs: 300 }));
      const err = await rejection(client.action('Ping'));
      expect(err).to.be.instanceOf(AmiConnectionError);
      expect((err as Error).message).to.contain('too many AMI actions');
      expect(await a).to.be.instanceOf(AmiTimeoutError);
      expect(await b).to.be.instanceOf(AmiTimeoutError);
    });

    it('refuses CR/LF in field values before anything is sent', async () => {
      // GIVEN values carrying a second action after CRLF WHEN sent THEN AmiProtocolError and the PBX receives neither
      const client = makeClient();
      await client.connect();
      const viaAction = await rejection(client.action('Setvar', { Variable: 'X', Value: 'a\r\n\r\nAction: Hangup' }));
      expect(viaAction).to.be.instanceOf(AmiProtocolError);
      const viaOriginate = await rejection(
        client.originate({ ...ORIGINATE, callerId: 'Eve\r\nAction: Originate\r\nChannel: IAX2/trunk/900' }),
      );
      expect(viaOriginate).to.be.instanceOf(AmiProtocolError);
      const viaVariable = await rejection(client.originate({ ...ORIGINATE, variables: { 'A\nB': '1' } }));
      expect(viaVariable).to.be.instanceOf(AmiProtocolError);
      await client.action('Ping');
      expect(fake.actions.map((a) => a.action)).to.deep.equal(['Login', 'Ping']);
      expect(client.pendingCount).to.equal(0);
    });

    it('refuses actions while not connected', async () => {
      // GIVEN a client never connected WHEN action() THEN AmiConnectionError without waiting
      const client = makeClient();
      expect(await rejection(client.action('Ping'))).to.be.instanceOf(AmiConnectionError);
      expect(await rejection(client.originate(ORIGINATE))).to.be.instanceOf(AmiConnectionError);
    });
  });

  describe('originate', () => {
    it('resolves with the OriginateResponse of click_to_call (Success, reason 4)', async () => {
      // GIVEN the success scenario WHEN originate() THEN it resolves with the correlated OriginateResponse and call events flow
      const client = makeClient();
      const typedSeen: OriginateResponseEvent[] = [];
      const hangups: HangupEvent[] = [];
      client.on('OriginateResponse', (e) => typedSeen.push(e));
      client.on('Hangup', (e) => hangups.push(e));
      await client.connect();
      const result = await client.originate(ORIGINATE);
      expect(result).to.include({ response: 'Success', reason: 4, uniqueid: '1795664485.30', channel: 'IAX2/101-12400' });
      const [sent] = fake.actionsNamed('Originate');
      expect(result.actionId).to.equal(sent?.actionId);
      expect(sent?.fields).to.include({
        channel: 'IAX2/101/101',
        context: 'from-internal',
        exten: '+375297654321',
        priority: '1',
        timeout: '20000',
        async: 'true',
        callerid: '"CRM: +375297654321" <101>',
      });
      expect(sent?.lines.filter((l) => l.key === 'Variable').map((l) => l.value)).to.deep.equal(['CRM_CALL_ID=crm-42']);
      await waitFor('both Hangup events', () => hangups.length === 2);
      expect(typedSeen).to.have.length(1);
      expect(client.pendingCount).to.equal(0);
    });

    for (const [scenario, reason] of [
      ['agentNoAnswer', 3],
      ['agentBusy', 5],
      ['badChannel', 0],
    ] as const) {
      it(`rejects with AmiOriginateError reason ${reason} (${scenario})`, async () => {
        // GIVEN a PBX whose OriginateResponse says Failure WHEN originate() THEN AmiOriginateError with that numeric reason
        fake.originateScenario = scenario;
        fake.originateEventDelayMs = 20;
        const client = makeClient();
        await client.connect();
        const err = await rejection(client.originate(ORIGINATE));
        expect(err).to.be.instanceOf(AmiOriginateError);
        expect(err).to.be.instanceOf(AmiActionError);
        expect((err as AmiOriginateError).reason).to.equal(reason);
        expect((err as AmiOriginateError).event.uniqueid).to.equal(undefined);
        expect((err as AmiOriginateError).response['Reason']).to.equal(String(reason));
        expect(client.pendingCount).to.equal(0);
      });
    }

    it('rejects a synchronous `Originate failed` with AmiActionError', async () => {
      // GIVEN a PBX answering Response: Error / Originate failed WHEN originate() THEN AmiActionError, not an originate reason
      fake.originateScenario = 'syncFailure';
      const client = makeClient();
      await client.connect();
      const err = await rejection(client.originate(ORIGINATE));
      expect(err).to.be.instanceOf(AmiActionError);
      expect(err).to.not.be.instanceOf(AmiOriginateError);
      expect((err as AmiActionError).response['Message']).to.equal('Originate failed');
      expect(client.pendingCount).to.equal(0);
    });

    it('gives up on a missing OriginateResponse at the deadline', async () => {
      // GIVEN a queued Originate whose OriginateResponse never comes WHEN the deadline passes THEN AmiTimeoutError
      fake.originateScenario = 'silent';
      const client = makeClient();
      await client.connect();
      const err = await rejection(client.originate({ ...ORIGINATE, deadlineMs: 150 }));
      expect(err).to.be.instanceOf(AmiTimeoutError);
      expect(client.pendingCount).to.equal(0);
    });

    it('rejects a waiting Originate at once when the connection drops', async () => {
      // GIVEN an Originate waiting for its OriginateResponse WHEN the PBX drops the connection THEN AmiConnectionError
      fake.originateScenario = 'silent';
      const client = makeClient();
      await client.connect();
      const pending = rejection(client.originate({ ...ORIGINATE, deadlineMs: 10_000 }));
      await waitFor('Originate', () => fake.actionsNamed('Originate').length === 1);
      await fake.dropAll();
      expect(await pending).to.be.instanceOf(AmiConnectionError);
    });
  });

  describe('events', () => {
    it('emits every event of a replayed capture, typed where known', async () => {
      // GIVEN a connected client WHEN the PBX replays inbound_answered.ami THEN every event arrives, Hangups typed
      const client = makeClient();
      const types: string[] = [];
      const hangups: HangupEvent[] = [];
      const raw: AmiMessage[] = [];
      client.on('event', (m) => types.push(m.type));
      client.on('Hangup', (e, m) => {
        hangups.push(e);
        raw.push(m);
      });
      await client.connect();
      await waitFor('FullyBooted', () => types.includes('FullyBooted'));
      types.length = 0;
      const sent = fake.replay('inbound_answered');
      await waitFor('replayed events', () => types.length === sent);
      const meta = JSON.parse(readFileSync(fixturePath('ami', 'inbound_answered.meta.json'), 'utf8')) as {
        event_counts: Record<string, number>;
      };
      expect(hangups).to.have.length(meta.event_counts['Hangup'] ?? -1);
      expect(hangups[0]?.cause).to.be.a('number');
      expect(raw[0]?.get('Cause-txt')).to.be.a('string');
    });

    it('survives a listener that throws', async () => {
      // GIVEN an event listener that throws WHEN events arrive THEN the client keeps working
      const logs: string[] = [];
      const client = makeClient({ onLog: (level, msg) => logs.push(`${level} ${msg}`) });
      client.on('event', () => {
        throw new Error('listener bug');
      });
      await client.connect();
      expect((await client.action('Ping')).response.get('Ping')).to.equal('Pong');
      await waitFor('log line', () => logs.some((l) => l.includes('listener threw')));
    });
  });

  describe('keepalive and reconnect', () => {
    it('drops and reconnects when Ping gets no Pong', async () => {
      // GIVEN a 50 ms keepalive WHEN the PBX stops answering Ping THEN the client drops the link and logs in again
      const client = makeClient({ keepaliveIntervalMs: 50, keepaliveTimeoutMs: 100 });
      await client.connect();
      await waitFor('first Ping', () => fake.actionsNamed('Ping').length >= 1);
      fake.answerPings = false;
      await waitForState(client, 'disconnected');
      fake.answerPings = true;
      await waitForState(client, 'connected');
      expect(fake.actionsNamed('Login')).to.have.length(2);
      await waitFor('a Ping on the second connection', () => fake.actions.filter((a) => a.connectionId === 2 && a.action === 'Ping').length >= 1);
    });

    it('rejects pending actions at once on a PBX restart and reconnects with backoff', async () => {
      // GIVEN a pending action WHEN the PBX drops every connection and refuses for a while THEN the action fails at once,
      // the client retries with growing delays, and logs in again once the PBX is back
      fake.silentActions.add('corestatus');
      const log = reconnectDelays();
      const policy = { initialDelayMs: 20, maxDelayMs: 400, factor: 2, jitter: 0.2 };
      const client = makeClient({ reconnect: policy, random: () => 0.5, onLog: log.onLog });
      await client.connect();
      const pending = rejection(client.action('CoreStatus', {}, { timeoutMs: 10_000 }));
      await waitFor('CoreStatus', () => fake.actionsNamed('CoreStatus').length === 1);
      fake.refuseConnections = true;
      const droppedAt = Date.now();
      await fake.dropAll();
      const err = await pending;
      expect(err).to.be.instanceOf(AmiConnectionError);
      expect(Date.now() - droppedAt).to.be.below(2_000);
      expect(client.state).to.not.equal('connected');
      await waitFor('six scheduled reconnects', () => log.delays.length >= 6);
      // Growing delays up to the cap, each lowered by the jitter (random 0.5 takes off a tenth): backoff, not a storm.
      expect(log.delays.slice(0, 6)).to.deep.equal([0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, reconnectBackoff(policy), () => 0.5)));
      expect(log.delays.slice(0, 6)).to.deep.equal([18, 36, 72, 144, 288, 360]);
      fake.refuseConnections = false;
      await waitForState(client, 'connected');
      expect((await client.action('Ping')).response.get('Ping')).to.equal('Pong');
    });

    it('computes capped exponential delays with jitter', () => {
      // GIVEN the default policy WHEN delays are computed for successive attempts THEN they double, are capped, and jitter lowers them
      const p = reconnectBackoff(DEFAULT_RECONNECT_POLICY);
      expect([0, 1, 2, 3].map((a) => backoffDelay(a, p, () => 1))).to.deep.equal([500, 1000, 2000, 4000]);
      expect(backoffDelay(20, p, () => 1)).to.equal(DEFAULT_RECONNECT_POLICY.maxDelayMs);
      expect(backoffDelay(1000, p, () => 1)).to.equal(DEFAULT_RECONNECT_POLICY.maxDelayMs);
      expect(backoffDelay(0, p, () => 0)).to.equal(400);
      expect(backoffDelay(0, { ...p, jitter: 0 }, () => 0)).to.equal(500);
    });
  });

  describe('close', () => {
    it('logs off, closes the socket and leaves nothing running', async () => {
      // GIVEN a connected client with keepalive on WHEN close() THEN Logoff is sent, the socket closes, later actions fail
      const client = makeClient({ keepaliveIntervalMs: 30 });
      await client.connect();
      await client.close();
      expect(client.state).to.equal('closed');
      expect(fake.actionsNamed('Logoff')).to.have.length(1);
      await waitFor('server side closed', () => fake.openConnections === 0);
      expect(await rejection(client.action('Ping'))).to.be.instanceOf(AmiConnectionError);
      expect(await rejection(client.connect())).to.be.instanceOf(AmiConnectionError);
      await client.close(); // idempotent
    });

    it('rejects what is pending and does not wait long for a silent Logoff', async () => {
      // GIVEN a PBX that answers neither CoreStatus nor Logoff WHEN close() THEN the action is rejected and close finishes
      fake.silentActions.add('corestatus');
      fake.silentActions.add('logoff');
      const client = makeClient({ logoffTimeoutMs: 100 });
      await client.connect();
      const pending = rejection(client.action('CoreStatus', {}, { timeoutMs: 10_000 }));
      await client.close();
      expect(await pending).to.be.instanceOf(AmiConnectionError);
      await waitFor('server side closed', () => fake.openConnections === 0);
    });

    it('stops reconnecting when closed during backoff', async () => {
      // GIVEN a client retrying against a refusing PBX WHEN close() THEN it resolves and no further attempts are made
      const reconnect = { initialDelayMs: 50, maxDelayMs: 50, factor: 1, jitter: 0 };
      const client = makeClient({ reconnect });
      await client.connect();
      fake.refuseConnections = true;
      await fake.dropAll();
      await waitFor('a reconnect attempt', () => fake.connectionCount >= 2);
      await client.close();
      const attempts = fake.connectionCount;
      // A witness with the same 50 ms backoff, started after the close: once its own retry has run, a retry the closed
      // client still had pending (due sooner) would have run too, so its absence now means there was none.
      const witnessLog = reconnectDelays();
      makeClient({ reconnect, onLog: witnessLog.onLog }).start();
      await waitFor("the witness's second scheduled retry", () => witnessLog.delays.length >= 2);
      expect(fake.connectionCount).to.equal(attempts + 2);
      expect(client.state).to.equal('closed');
    });
  });
});
