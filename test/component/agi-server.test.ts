/**
 * Component tests: the real FastAGI server on port 0 against the fake Asterisk (test/fakes/fake-asterisk.ts),
 * replaying recorded sessions from test/fixtures/agi/.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { waitFor } from '../helpers/async.js';
import { AgiClosedError, AgiCommandError, AgiHangupError, AgiProtocolError, AgiTimeoutError } from '../../src/lib/errors.js';
import { createAgiServer, type AgiHandler, type AgiServer, type AgiServerOptions } from '../../src/agi/server.js';
import type { AgiSession } from '../../src/agi/session.js';
import { loadAgiFlow } from '../fakes/agi-fixtures.js';
import { runAgiSession, type FakeAsteriskResult } from '../fakes/fake-asterisk.js';

const INCOMING = loadAgiFlow('inbound_answered__incoming');

interface Harness {
  server: AgiServer;
  port: number;
  errors: unknown[];
  refused: number;
}

async function withServer(
  handler: AgiHandler,
  options: Partial<Omit<AgiServerOptions, 'handler'>>,
  body: (h: Harness) => Promise<void>,
): Promise<void> {
  const server = createAgiServer({
    handler,
    maxSessions: 10,
    envTimeoutMs: 2000,
    commandTimeoutMs: 2000,
    idleTimeoutMs: 2000,
    ...options,
  });
  const h: Harness = { server, port: 0, errors: [], refused: 0 };
  server.on('sessionError', (err) => h.errors.push(err));
  server.on('sessionRefused', () => h.refused++);
  try {
    h.port = (await server.listen(0, '127.0.0.1')).port;
    await body(h);
  } finally {
    await server.close({ drainMs: 1000 });
  }
  expect(server.activeSessions).to.equal(0);
}

/** Whether a TCP connection to the port is refused (the listener is closed). */
async function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(port, '127.0.0.1');
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', () => resolve(true));
  });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('agi server (component)', function () {
  this.timeout(15_000);

  it('replays a real /incoming session with the env split inside a UTF-8 character', async () => {
    // GIVEN the inbound_answered env sent in 3 chunks cut inside "Иван" WHEN the handler reads and sets THEN Asterisk sees the transcript's commands
    let seen: { script: string; enterprise: string | null; name: string; uniqueid: string; remote: string | undefined } | undefined;
    const handler: AgiHandler = async (s) => {
      seen = {
        script: s.script,
        enterprise: s.query.get('enterprise'),
        name: s.env.calleridname,
        uniqueid: s.env.uniqueid,
        remote: s.remoteAddress,
      };
      expect(await s.getVariable('CALLERID(num)')).to.equal('+375291234567');
      expect(await s.getVariable('CALLERID(name)')).to.equal('');
      expect(await s.getVariable('CHANNEL(linkedid)')).to.equal('1795666576.152');
      expect(await s.getVariable('RCRM_ENTERPRISE')).to.equal(undefined);
      await s.setVariable('CALLERID(name)', 'Иван "Тест" Петров');
      await s.setVariable('RCRM_MANAGER', '101');
      expect(await s.getVariable('CALLERID(all)')).to.equal('"Иван "Тест" Петров" <+375291234567>');
      expect(await s.getFullVariable('${RCRM_MANAGER}-${NOPE}')).to.equal('101-');
    };
    await withServer(handler, {}, async ({ port, errors }) => {
      const r = await runAgiSession({
        port,
        fixture: INCOMING,
        script: 'incoming',
        query: { enterprise: '0367', did: '17175550100' },
        envOverrides: { agi_calleridname: 'Мария 🌸 Иванова' },
        chunking: 'utf8-split',
      });
      expect(errors).to.deep.equal([]);
      expect(r.closedBy).to.equal('server');
      expect(r.commands).to.deep.equal([
        'GET VARIABLE CALLERID(num)',
        'GET VARIABLE CALLERID(name)',
        'GET VARIABLE CHANNEL(linkedid)',
        'GET VARIABLE RCRM_ENTERPRISE',
        'SET VARIABLE CALLERID(name) "Иван \\"Тест\\" Петров"',
        'SET VARIABLE RCRM_MANAGER "101"',
        'GET VARIABLE CALLERID(all)',
        'GET FULL VARIABLE ${RCRM_MANAGER}-${NOPE}',
      ]);
      expect(r.rawCommands[4]?.equals(Buffer.from('SET VARIABLE CALLERID(name) "Иван \\"Тест\\" Петров"'))).to.equal(true);
      expect(r.variables.get('RCRM_MANAGER')).to.equal('101');
    });
    expect(seen).to.deep.equal({
      script: 'incoming',
      enterprise: '0367',
      name: 'Мария 🌸 Иванова',
      uniqueid: '1795666576.152',
      remote: '127.0.0.1',
    });
  });

  it('quotes hostile customer names so Asterisk stores exactly the sanitised text', async () => {
    // GIVEN names with commas, quotes, pipes, backslashes, newlines, emoji and 300 chars WHEN set THEN the fake stores them intact minus CR/LF
    const names: Record<string, string> = {
      N_COMMA: 'Ivanov, Ivan',
      N_QUOTES: 'ООО "Ромашка"',
      N_PIPE: 'a|b;c&d',
      N_BACKSLASH: 'C:\\new\\"x"\\',
      N_NEWLINE: 'line1\r\nSET VARIABLE PWNED 1\nline3',
      N_EMOJI: 'Мария 🌸 | ; , ${SHELL(id)}',
      N_LONG: 'Щ'.repeat(300),
      N_EMPTY: '',
    };
    await withServer(
      async (s) => {
        for (const [k, v] of Object.entries(names)) await s.setVariable(k, v);
        await s.close(); // the handler may close itself; the server's close afterwards is a no-op
        expect(s.isClosed).to.equal(true);
      },
      {},
      async ({ port, errors }) => {
        const r = await runAgiSession({ port, fixture: INCOMING });
        expect(errors).to.deep.equal([]);
        expect(r.commands).to.have.length(Object.keys(names).length);
        for (const [k, v] of Object.entries(names)) {
          expect(r.variables.get(k), k).to.equal(v.replace(/[\r\n]/g, ''));
        }
        expect(r.variables.has('PWNED')).to.equal(false);
      },
    );
  });

  it('reads a multi-line 520 that arrives in two chunks 40 ms apart, and a 510', async () => {
    // GIVEN a malformed and an unknown command WHEN sent THEN AgiCommandError 520 / 510, and the session stays usable
    const outcomes: unknown[] = [];
    await withServer(
      async (s) => {
        outcomes.push(await s.command('SET VARIABLE FOO bar baz').catch((e: unknown) => e));
        outcomes.push(await s.command('RCRM LOOKUP +375291234567').catch((e: unknown) => e));
        outcomes.push(await s.command('ANSWER\r').catch((e: unknown) => e));
        outcomes.push(await s.getVariable('CALLERID(num)'));
      },
      {},
      async ({ port, errors }) => {
        const r = await runAgiSession({ port, fixture: INCOMING, usageGapMs: 40 });
        expect(errors).to.deep.equal([]);
        expect(r.commands).to.deep.equal(['SET VARIABLE FOO bar baz', 'RCRM LOOKUP +375291234567', 'GET VARIABLE CALLERID(num)']);
      },
    );
    expect(outcomes[0]).to.be.instanceOf(AgiCommandError).with.property('responseCode', 520);
    expect(outcomes[1]).to.be.instanceOf(AgiCommandError).with.property('responseCode', 510);
    expect(outcomes[2]).to.be.instanceOf(AgiProtocolError); // a \r never reaches the wire
    expect(outcomes[3]).to.equal('+375291234567');
  });

  it('never pipelines: concurrent calls are queued one at a time', async () => {
    // GIVEN a handler firing 6 commands at once WHEN they run THEN the fake sees no pipelining and each gets its own answer
    await withServer(
      async (s) => {
        const values = await Promise.all([
          s.getVariable('CALLERID(num)'),
          s.setVariable('A', '1'),
          s.getVariable('A'),
          s.getVariable('CHANNEL(uniqueid)'),
          s.setVariable('B', 'два'),
          s.getVariable('B'),
        ]);
        expect(values).to.deep.equal(['+375291234567', undefined, '1', '1795666576.152', undefined, 'два']);
      },
      {},
      async ({ port, errors }) => {
        const r = await runAgiSession({ port, fixture: INCOMING, answerDelayMs: 2 });
        expect(errors).to.deep.equal([]);
        expect(r.commands).to.have.length(6);
      },
    );
  });

  it('handles HANGUP between commands: variables still work, ANSWER gets AgiHangupError', async () => {
    // GIVEN Asterisk writes HANGUP after the 2nd answer WHEN the handler goes on THEN hungUp, GET/SET work, 511 → AgiHangupError
    let hangupEvents = 0;
    let answerError: unknown;
    await withServer(
      async (s) => {
        s.on('hangup', () => hangupEvents++);
        await s.getVariable('CALLERID(num)');
        await s.getVariable('CALLERID(name)');
        if (!s.hungUp) await once(s, 'hangup');
        expect(s.hungUp).to.equal(true);
        await s.setVariable('CALLERID(name)', 'Иван');
        expect(await s.getVariable('CALLERID(name)')).to.equal('Иван');
        answerError = await s.command('ANSWER').catch((e: unknown) => e);
        await s.verbose('dead but fine', 3);
      },
      {},
      async ({ port, errors }) => {
        const r = await runAgiSession({ port, fixture: INCOMING, hangupAfterCommands: 2 });
        expect(errors).to.deep.equal([]);
        expect(r.hangupSent).to.equal(true);
        expect(r.commands.slice(-2)).to.deep.equal(['ANSWER', 'VERBOSE "dead but fine" 3']);
      },
    );
    expect(hangupEvents).to.equal(1);
    expect(answerError).to.be.instanceOf(AgiHangupError);
  });

  it('does not take a HANGUP that arrives while a command is outstanding as its answer', async () => {
    // GIVEN HANGUP written before the answer to the 2nd command WHEN it arrives THEN the command still gets its real answer
    let value: string | undefined;
    let hungUpSeen = false;
    await withServer(
      async (s) => {
        await s.getVariable('CALLERID(num)');
        value = await s.getVariable('CHANNEL(linkedid)');
        hungUpSeen = s.hungUp;
      },
      {},
      async ({ port, errors }) => {
        await runAgiSession({ port, fixture: INCOMING, hangupBeforeAnswerOf: 2 });
        expect(errors).to.deep.equal([]);
      },
    );
    expect(value).to.equal('1795666576.152');
    expect(hungUpSeen).to.equal(true);
  });

  it('replays a /hangup session on a dead channel and reads every recorded value', async () => {
    // GIVEN inbound_answered__hangup's variables WHEN the handler reads them all THEN GET/GET FULL match the recording
    const flow = loadAgiFlow('inbound_answered__hangup');
    const got = new Map<string, { get: string | undefined; full: string | undefined }>();
    await withServer(
      async (s) => {
        expect(s.script).to.equal('hangup');
        for (const name of flow.hangupValues.keys()) {
          const get = await s.getVariable(name);
          const full = flow.hangupValues.get(name)?.full === undefined ? undefined : await s.getFullVariable(`\${${name}}`);
          got.set(name, { get, full });
        }
        await s.setVariable('RCRM_HANGUP_DONE', '1');
        await s.command('CHANNEL STATUS').then(
          () => expect.fail('511 expected'),
          (e: unknown) => expect(e).to.be.instanceOf(AgiHangupError),
        );
      },
      {},
      async ({ port, errors }) => {
        const r = await runAgiSession({ port, fixture: flow, deadChannel: true });
        expect(errors).to.deep.equal([]);
        expect(r.hangupSent).to.equal(false);
        expect(r.variables.get('RCRM_HANGUP_DONE')).to.equal('1');
      },
    );
    for (const [name, v] of flow.hangupValues) expect(got.get(name), name).to.deep.equal({ get: v.get, full: v.full });
  });

  it('rejects with AgiClosedError when Asterisk disconnects mid-command, and aborts the signal', async () => {
    // GIVEN the fake drops the connection on the 2nd command WHEN the handler waits THEN AgiClosedError and session.signal aborted
    let err: unknown;
    let aborted = false;
    await withServer(
      async (s) => {
        await s.getVariable('CALLERID(num)');
        err = await s.getVariable('CALLERID(name)').catch((e: unknown) => e);
        aborted = s.signal.aborted;
        const after = await s.getVariable('X').catch((e: unknown) => e);
        expect(after).to.be.instanceOf(AgiClosedError);
      },
      {},
      async ({ port, errors }) => {
        const r = await runAgiSession({ port, fixture: INCOMING, closeOnCommand: 2 });
        expect(r.closedBy).to.equal('fake');
        expect(errors).to.deep.equal([]);
      },
    );
    expect(err).to.be.instanceOf(AgiClosedError);
    expect(aborted).to.equal(true);
  });

  it('drops a peer that sends garbage instead of an env block', async () => {
    // GIVEN an HTTP request instead of AGI WHEN it arrives THEN sessionError(AgiProtocolError), no handler, socket closed
    let calls = 0;
    await withServer(
      async () => {
        calls++;
      },
      {},
      async (h) => {
        const r = await runAgiSession({ port: h.port, fixture: INCOMING, garbage: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' });
        expect(r.closedBy).to.equal('server');
        expect(h.errors).to.have.length(1);
        expect(h.errors[0]).to.be.instanceOf(AgiProtocolError);
      },
    );
    expect(calls).to.equal(0);
  });

  it('drops a peer that sends an over-long line', async () => {
    // GIVEN 20 KiB without a newline WHEN it arrives THEN AgiProtocolError and the socket is destroyed
    await withServer(
      async () => undefined,
      {},
      async (h) => {
        await runAgiSession({ port: h.port, fixture: INCOMING, garbage: `agi_network: ${'x'.repeat(20_000)}` });
        expect(h.errors).to.have.length(1);
        expect(h.errors[0]).to.be.instanceOf(AgiProtocolError).with.property('message').that.matches(/longer than/);
      },
    );
  });

  it('drops a silent peer after the idle timeout', async () => {
    // GIVEN a peer that connects and sends nothing WHEN idleTimeoutMs passes THEN AgiTimeoutError and the socket closes
    await withServer(
      async () => undefined,
      { idleTimeoutMs: 150, envTimeoutMs: 10_000 },
      async (h) => {
        const r = await runAgiSession({ port: h.port, fixture: INCOMING, silent: true });
        expect(r.closedBy).to.equal('server');
        expect(h.errors).to.have.length(1);
        expect(h.errors[0]).to.be.instanceOf(AgiTimeoutError);
      },
    );
  });

  it('times out a command Asterisk never answers, and drops the connection', async () => {
    // GIVEN the fake stalls after one answer WHEN the 2nd command waits THEN AgiTimeoutError (idle limit) and the socket is dropped
    let err: unknown;
    await withServer(
      async (s) => {
        await s.getVariable('CALLERID(num)');
        err = await s.getVariable('CALLERID(name)').catch((e: unknown) => e);
        expect(s.isClosed).to.equal(true);
      },
      { idleTimeoutMs: 150, commandTimeoutMs: 10_000 },
      async ({ port }) => {
        const r = await runAgiSession({ port, fixture: INCOMING, stallAfterCommands: 1 });
        expect(r.closedBy).to.equal('server');
      },
    );
    expect(err).to.be.instanceOf(AgiTimeoutError);
  });

  it('applies the per-command deadline', async () => {
    // GIVEN answers delayed 500 ms WHEN commandTimeoutMs is 100 THEN AgiTimeoutError
    let err: unknown;
    await withServer(
      async (s) => {
        err = await s.getVariable('CALLERID(num)').catch((e: unknown) => e);
      },
      { commandTimeoutMs: 100 },
      async ({ port }) => {
        await runAgiSession({ port, fixture: INCOMING, answerDelayMs: 500 });
      },
    );
    expect(err).to.be.instanceOf(AgiTimeoutError);
  });

  it('an aborted command does not shift answers onto the next one', async () => {
    // GIVEN a command aborted while its answer is delayed WHEN the next command runs THEN it gets its own answer
    let first: unknown;
    let second: string | undefined;
    await withServer(
      async (s) => {
        const ac = new AbortController();
        const p = s.getVariable('CALLERID(num)', { signal: ac.signal }).catch((e: unknown) => e);
        setTimeout(() => ac.abort(new Error('caller gave up')), 20);
        first = await p;
        second = await s.getVariable('CHANNEL(uniqueid)');
      },
      {},
      async ({ port, errors }) => {
        await runAgiSession({ port, fixture: INCOMING, answerDelayMs: 100 });
        expect(errors).to.deep.equal([]);
      },
    );
    expect(first).to.be.instanceOf(Error).with.property('message', 'caller gave up');
    expect(second).to.equal('1795666576.152');
  });

  it('reports a handler rejection as sessionError and keeps serving', async () => {
    // GIVEN a handler that throws on the first call WHEN two sessions run THEN one sessionError and the second works
    let n = 0;
    await withServer(
      async (s) => {
        if (++n === 1) throw new Error('boom');
        await s.setVariable('OK', '1');
      },
      {},
      async (h) => {
        const a = await runAgiSession({ port: h.port, fixture: INCOMING });
        const b = await runAgiSession({ port: h.port, fixture: INCOMING });
        expect(a.closedBy).to.equal('server');
        expect(b.variables.get('OK')).to.equal('1');
        expect(h.errors).to.have.length(1);
        expect((h.errors[0] as Error).message).to.equal('boom');
      },
    );
  });

  it('refuses connections over maxSessions at once', async () => {
    // GIVEN maxSessions 1 and a session in progress WHEN a second connects THEN it is closed with no command and no handler call
    const release = deferred();
    const started = deferred();
    let calls = 0;
    await withServer(
      async (s) => {
        calls++;
        started.resolve();
        await release.promise;
        await s.setVariable('DONE', '1');
      },
      { maxSessions: 1 },
      async (h) => {
        const first = runAgiSession({ port: h.port, fixture: INCOMING });
        await started.promise;
        expect(h.server.activeSessions).to.equal(1);
        const second = await runAgiSession({ port: h.port, fixture: INCOMING });
        expect(second.commands).to.deep.equal([]);
        expect(second.closedBy).to.equal('server');
        expect(h.refused).to.equal(1);
        release.resolve();
        const r: FakeAsteriskResult = await first;
        expect(r.variables.get('DONE')).to.equal('1');
      },
    );
    expect(calls).to.equal(1);
  });

  it('close() waits for live sessions to finish within drainMs', async () => {
    // GIVEN a session whose handler is still working WHEN close({drainMs: 5000}) is called THEN it finishes and close resolves after
    const started = deferred();
    const release = deferred();
    let finished = false;
    const server = createAgiServer({
      handler: async (s) => {
        started.resolve();
        await release.promise;
        await s.setVariable('DRAINED', '1');
        finished = true;
      },
      maxSessions: 5,
      envTimeoutMs: 2000,
      commandTimeoutMs: 2000,
      idleTimeoutMs: 2000,
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const session = runAgiSession({ port, fixture: INCOMING });
    await started.promise;
    let closed = false;
    const closing = server.close({ drainMs: 5000 }).then(() => (closed = true));
    // Once the listener refuses connections close() is draining: it must still be waiting for the live session.
    await waitFor('the listener to refuse connections', () => connectionRefused(port));
    expect(closed, 'close() waited for the live session').to.equal(false);
    release.resolve();
    await closing;
    expect(finished).to.equal(true);
    expect(server.activeSessions).to.equal(0);
    expect((await session).variables.get('DRAINED')).to.equal('1');
    // And the listener is gone.
    const refused = connect(port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).to.equal('ECONNREFUSED');
    refused.destroy();
  });

  it('close() destroys sessions still running after drainMs; their handlers see the abort', async () => {
    // GIVEN a handler waiting on session.signal (a stuck CRM call) WHEN close({drainMs: 100}) THEN the session is destroyed and the signal aborts
    const started = deferred();
    let sawAbort = false;
    const server = createAgiServer({
      handler: async (s: AgiSession) => {
        started.resolve();
        if (!s.signal.aborted) await once(s.signal, 'abort');
        sawAbort = true;
      },
      maxSessions: 5,
      envTimeoutMs: 2000,
      commandTimeoutMs: 2000,
      idleTimeoutMs: 2000,
    });
    const { port } = await server.listen(0, '127.0.0.1');
    const session = runAgiSession({ port, fixture: INCOMING });
    await started.promise;
    await server.close({ drainMs: 100 });
    expect(server.activeSessions).to.equal(0);
    expect(sawAbort).to.equal(true);
    expect((await session).closedBy).to.equal('server');
  });

  it('the fake fails the run when a server pipelines commands', async () => {
    // GIVEN a bare server that writes two commands at once WHEN the fake sees them THEN runAgiSession rejects
    // A bare net server standing in for a broken FastAGI server.
    const bad = createServer((sock) => {
      sock.once('data', () => sock.end('GET VARIABLE A\nGET VARIABLE B\n'));
      sock.on('error', () => undefined);
    });
    bad.listen(0, '127.0.0.1');
    await once(bad, 'listening');
    try {
      const port = (bad.address() as { port: number }).port;
      const err = await runAgiSession({ port, fixture: INCOMING }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Error).with.property('message').that.matches(/pipelined/);
    } finally {
      bad.close();
      await once(bad, 'close');
    }
  });
});
