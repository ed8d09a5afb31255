/**
 * In-process fake Asterisk AMI server (node:net, port 0) for component tests.
 *
 * Speaks what the real Asterisk 22.10.1 captures in test/fixtures/ami/ show: banner, Login (a wrong secret gets
 * `Authentication failed` after a delay and a closed socket, as in login_failed.ami), Ping/Pong, Logoff/Goodbye,
 * Originate with the events of a chosen capture scenario (the request's ActionID substituted), and the answers
 * recorded in actions_during_call.ami for other actions. Records every action received. Failure switches: stop
 * answering Pings, leave chosen actions unanswered, drop all connections (PBX restart), refuse connections.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parseLines, type AmiLine } from '../../src/ami/codec.js';
import { AmiFramer } from '../../src/ami/framer.js';
import { fixturePath } from '../helpers/paths.js';

export type OriginateScenario = 'success' | 'agentNoAnswer' | 'agentBusy' | 'badChannel' | 'syncFailure' | 'silent';

export interface ReceivedAction {
  readonly connectionId: number;
  /** Action name as sent (`Originate`). */
  readonly action: string;
  readonly actionId: string | undefined;
  /** Lowercased key → first value. */
  readonly fields: Readonly<Record<string, string>>;
  /** Every line in order (repeated `Variable:` lines included). */
  readonly lines: readonly AmiLine[];
}

export interface FakeAmiOptions {
  readonly username?: string;
  readonly secret?: string;
  /** Delay before `Authentication failed` (the real server waited 1 s). */
  readonly authFailureDelayMs?: number;
  readonly banner?: string;
}

interface ScenarioSource {
  readonly capture: string;
  /** ActionID of the Originate in that capture. */
  readonly actionId: string;
}

const SCENARIOS: Record<Exclude<OriginateScenario, 'silent'>, ScenarioSource> = {
  success: { capture: 'click_to_call', actionId: 'c2c-0001' },
  agentNoAnswer: { capture: 'click_to_call_agent_noanswer', actionId: 'c2c-0003' },
  agentBusy: { capture: 'click_to_call_agent_busy', actionId: 'c2c-0004' },
  badChannel: { capture: 'originate_bad_channel', actionId: 'c2c-bad-async' },
  syncFailure: { capture: 'originate_bad_channel', actionId: 'c2c-bad-sync' },
};

interface Block {
  readonly text: string;
  readonly lines: readonly AmiLine[];
}

function first(lines: readonly AmiLine[], key: string): string | undefined {
  const k = key.toLowerCase();
  return lines.find((l) => l.key.toLowerCase() === k)?.value;
}

const captureCache = new Map<string, Block[]>();

/** Message blocks of a capture file (`<name>.ami`, or `<name>.sent.ami` for what the client sent). */
export function loadCaptureBlocks(file: string, expectBanner: boolean): Block[] {
  const cached = captureCache.get(file);
  if (cached) return cached;
  const framer = new AmiFramer({ expectBanner, maxBufferBytes: 16 * 1024 * 1024 });
  const blocks = framer
    .push(readFileSync(fixturePath('ami', file)))
    .filter((f) => f.kind === 'block')
    .map((f) => ({ text: f.text, lines: parseLines(f.text) }));
  captureCache.set(file, blocks);
  return blocks;
}

function withActionId(block: Block, from: string, to: string | undefined): string {
  if (to === undefined) return block.text.replace(new RegExp(`^ActionID: ${escape(from)}\\r?\\n`, 'mi'), '');
  return block.text.replace(new RegExp(`^(ActionID: )${escape(from)}(\\r?)$`, 'mi'), `$1${to}$2`);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What the capture shows for an Originate: the immediate response and the events that followed. */
function originateReplies(source: ScenarioSource): { response: Block; events: Block[] } {
  const blocks = loadCaptureBlocks(`${source.capture}.ami`, true);
  const index = blocks.findIndex(
    (b) => first(b.lines, 'Response') !== undefined && first(b.lines, 'ActionID') === source.actionId,
  );
  const response = blocks[index];
  if (!response) throw new Error(`no response to ${source.actionId} in ${source.capture}.ami`);
  const events = blocks.slice(index + 1).filter((b) => {
    if (first(b.lines, 'Event') === undefined) return false;
    const id = first(b.lines, 'ActionID');
    return id === undefined || id === source.actionId;
  });
  return { response, events };
}

/** Action name → the reply blocks recorded in actions_during_call (first occurrence of each action). */
function recordedReplies(): Map<string, { actionId: string; blocks: Block[] }> {
  const sent = loadCaptureBlocks('actions_during_call.sent.ami', false);
  const received = loadCaptureBlocks('actions_during_call.ami', true);
  const table = new Map<string, { actionId: string; blocks: Block[] }>();
  for (const action of sent) {
    const name = first(action.lines, 'Action')?.toLowerCase();
    const id = first(action.lines, 'ActionID');
    if (!name || !id || table.has(name) || name === 'login' || name === 'logoff') continue;
    table.set(name, { actionId: id, blocks: received.filter((b) => first(b.lines, 'ActionID') === id) });
  }
  return table;
}

interface Connection {
  readonly id: number;
  readonly socket: net.Socket;
  readonly framer: AmiFramer;
  loggedIn: boolean;
  eventsOn: boolean;
}

export class FakeAmi {
  readonly actions: ReceivedAction[] = [];
  originateScenario: OriginateScenario = 'success';
  /** Pause between the Originate response and its events. */
  originateEventDelayMs = 0;
  /** While set, Originate events wait here until the test releases them (holdOriginateEvents). */
  private heldOriginateEvents: (() => void)[] | undefined;
  answerPings = true;
  /** Accept and at once close new connections (port open, service not answering). */
  refuseConnections = false;
  /** Lowercased action names that get no answer at all. */
  readonly silentActions = new Set<string>();
  private readonly server: net.Server;
  private readonly connections = new Map<net.Socket, Connection>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly options: Required<FakeAmiOptions>;
  private readonly replies = recordedReplies();
  private accepted = 0;

  private constructor(options: FakeAmiOptions) {
    this.options = {
      username: options.username ?? 'crm',
      secret: options.secret ?? 'crmsecret',
      authFailureDelayMs: options.authFailureDelayMs ?? 50,
      banner: options.banner ?? 'Asterisk Call Manager/11.0.0',
    };
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  static async start(options: FakeAmiOptions = {}): Promise<FakeAmi> {
    const fake = new FakeAmi(options);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    return fake;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('fake AMI not listening');
    return address.port;
  }

  /** Connections accepted so far (refused ones included). */
  get connectionCount(): number {
    return this.accepted;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  get loggedInConnections(): number {
    return [...this.connections.values()].filter((c) => c.loggedIn).length;
  }

  actionsNamed(name: string): ReceivedAction[] {
    return this.actions.filter((a) => a.action.toLowerCase() === name.toLowerCase());
  }

  /** Sends the events of a capture file (e.g. 'inbound_answered') to every logged-in connection with events on. */
  replay(capture: string): number {
    const events = loadCaptureBlocks(`${capture}.ami`, true).filter((b) => first(b.lines, 'Event') !== undefined);
    const payload = events.map((b) => `${b.text}\r\n`).join('');
    for (const c of this.connections.values()) if (c.loggedIn && c.eventsOn) c.socket.write(payload);
    return events.length;
  }

  /** Writes raw bytes to every open connection (for malformed-input tests). */
  writeRaw(data: string | Buffer): void {
    for (const c of this.connections.values()) c.socket.write(data);
  }

  /** PBX restart: every connection is cut at once. Resolves when they are all closed. */
  async dropAll(): Promise<void> {
    const closed = [...this.connections.keys()].map(
      (s) => new Promise<void>((resolve) => (s.destroyed && s.closed ? resolve() : s.once('close', () => resolve()))),
    );
    for (const s of this.connections.keys()) s.destroy();
    await Promise.all(closed);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.dropAll();
    await closed;
  }

  // ---- per connection --------------------------------------------------------------------------------------

  private onConnection(socket: net.Socket): void {
    this.accepted += 1;
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    if (this.refuseConnections) {
      socket.destroy();
      return;
    }
    const conn: Connection = {
      id: this.accepted,
      socket,
      framer: new AmiFramer({ expectBanner: false }),
      loggedIn: false,
      eventsOn: true,
    };
    this.connections.set(socket, conn);
    socket.once('close', () => this.connections.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      for (const frame of conn.framer.push(chunk)) if (frame.kind === 'block') this.onAction(conn, frame.text);
    });
    socket.write(`${this.options.banner}\r\n`);
  }

  private onAction(conn: Connection, text: string): void {
    const lines = parseLines(text);
    const fields: Record<string, string> = {};
    for (const { key, value } of lines) if (!(key.toLowerCase() in fields)) fields[key.toLowerCase()] = value;
    const action = first(lines, 'Action') ?? '';
    const actionId = fields['actionid'];
    this.actions.push({ connectionId: conn.id, action, actionId, fields, lines });
    const name = action.toLowerCase();
    if (this.silentActions.has(name)) return;
    switch (name) {
      case 'login':
        return this.onLogin(conn, fields, actionId);
      case 'logoff':
        this.reply(conn, ['Response: Goodbye', idLine(actionId), 'Message: Thanks for all the fish.']);
        conn.socket.end();
        return;
    }
    if (!conn.loggedIn) {
      this.reply(conn, ['Response: Error', idLine(actionId), 'Message: Authentication Required']);
      return;
    }
    if (name === 'ping') {
      if (!this.answerPings) return;
      const ts = (Date.now() / 1000).toFixed(6);
      this.reply(conn, ['Response: Success', idLine(actionId), 'Ping: Pong', `Timestamp: ${ts}`]);
    } else if (name === 'originate') {
      this.onOriginate(conn, actionId);
    } else {
      this.onRecordedAction(conn, action, actionId);
    }
  }

  private onLogin(conn: Connection, fields: Record<string, string>, actionId: string | undefined): void {
    if (fields['username'] === this.options.username && fields['secret'] === this.options.secret) {
      conn.loggedIn = true;
      conn.eventsOn = (fields['events'] ?? 'on').toLowerCase() !== 'off';
      this.reply(conn, ['Response: Success', idLine(actionId), 'Message: Authentication accepted']);
      if (conn.eventsOn) {
        this.reply(conn, ['Event: FullyBooted', 'Privilege: system,all', 'Uptime: 148', 'LastReload: 148', 'Status: Fully Booted']);
      }
      return;
    }
    this.later(this.options.authFailureDelayMs, () => {
      this.reply(conn, ['Response: Error', idLine(actionId), 'Message: Authentication failed']);
      conn.socket.end();
    });
  }

  private onOriginate(conn: Connection, actionId: string | undefined): void {
    if (this.originateScenario === 'silent') {
      this.reply(conn, ['Response: Success', idLine(actionId), 'Message: Originate successfully queued']);
      return;
    }
    const source = SCENARIOS[this.originateScenario];
    const { response, events } = originateReplies(source);
    conn.socket.write(`${withActionId(response, source.actionId, actionId)}\r\n`);
    if (this.originateScenario === 'syncFailure') return;
    const payload = events.map((b) => `${withActionId(b, source.actionId, actionId)}\r\n`).join('');
    // A session logged in with `Events: off` never sees OriginateResponse, as on a real PBX.
    const send = (): void => {
      if (conn.eventsOn && !conn.socket.destroyed) conn.socket.write(payload);
    };
    if (this.heldOriginateEvents) this.heldOriginateEvents.push(send);
    else this.later(this.originateEventDelayMs, send);
  }

  /**
   * The events of every Originate from now on (OriginateResponse: the call's outcome) wait until the returned
   * function is called, which sends them and stops holding: the test decides when the call "ends".
   */
  holdOriginateEvents(): () => void {
    const held: (() => void)[] = [];
    this.heldOriginateEvents = held;
    return () => {
      if (this.heldOriginateEvents === held) this.heldOriginateEvents = undefined;
      for (const send of held.splice(0)) send();
    };
  }

  private onRecordedAction(conn: Connection, action: string, actionId: string | undefined): void {
    const recorded = this.replies.get(action.toLowerCase());
    if (!recorded) {
      this.reply(conn, [
        'Response: Error',
        idLine(actionId),
        `Message: Invalid/unknown command: ${action}. Use Action: ListCommands to show available commands.`,
      ]);
      return;
    }
    const payload = recorded.blocks.map((b) => `${withActionId(b, recorded.actionId, actionId)}\r\n`).join('');
    conn.socket.write(payload);
  }

  private reply(conn: Connection, lines: readonly (string | undefined)[]): void {
    if (conn.socket.destroyed) return;
    conn.socket.write(`${lines.filter((l) => l !== undefined).join('\r\n')}\r\n\r\n`);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

function idLine(actionId: string | undefined): string | undefined {
  return actionId === undefined ? undefined : `ActionID: ${actionId}`;
}
