/**
 * A fake Asterisk that connects to a FastAGI server the way the real one does (captures in
 * test/fixtures/agi/): it sends the env block of a recorded flow (script and query rewritten), optionally in
 * several TCP chunks, then answers each command as Asterisk 22 does: parse_args() quoting rules, a channel
 * variable store, 510/511/520 answers (520 in two writes ~40 ms apart), HANGUP lines, and `HANGUP` + close
 * after the server's FIN. It records every command line as raw bytes and fails the run if the server
 * pipelines a command before the previous one was answered (real Asterisk stalls on that).
 */
import { substituteExpression } from './agi-expression.js';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgiFlow } from './agi-fixtures.js';

export interface FakeAgiFixture {
  readonly envLines: readonly string[];
  readonly variables: ReadonlyMap<string, string>;
}

export type EnvChunking =
  /** One write. */
  | 'whole'
  /** Two writes split after `agi_context`, like the captures. */
  | 'asterisk'
  /** Three writes, the first two cuts inside multi-byte UTF-8 characters (needs a non-ASCII env value). */
  | 'utf8-split'
  /** One write per line. */
  | 'lines'
  /** Byte offsets at which to cut. */
  | readonly number[];

export interface FakeAsteriskOptions {
  readonly port: number;
  readonly host?: string;
  /** Source address to connect from (e.g. 127.0.0.2: another loopback address, to test allow-lists). */
  readonly localAddress?: string;
  readonly fixture: AgiFlow | FakeAgiFixture;
  /** Rewrites agi_network_script / agi_request to `<script>?<query>`. */
  readonly script?: string;
  readonly query?: string | Readonly<Record<string, string>>;
  /** Replaces the agi_arg_N lines. */
  readonly args?: readonly string[];
  /** Replaces (or adds) env values, keyed by the full name (`agi_calleridname`). */
  readonly envOverrides?: Readonly<Record<string, string>>;
  /** Extra or replaced channel variables. */
  readonly variables?: Readonly<Record<string, string>>;
  readonly chunking?: EnvChunking;
  /** Pause between env chunks (default 5 ms when chunked), so the server sees separate reads. */
  readonly chunkDelayMs?: number;
  /** Write `HANGUP\n` once this many commands are answered (0: right after the env block). */
  readonly hangupAfterCommands?: number;
  /** Write `HANGUP\n` when command #N (1-based) arrives, before answering it. */
  readonly hangupBeforeAnswerOf?: number;
  /** The channel is already dead (h-extension): no HANGUP line, but ANSWER etc. get 511. */
  readonly deadChannel?: boolean;
  /** Delay before each answer. */
  readonly answerDelayMs?: number;
  /** Gap between the two writes of a 520 answer (default 40, as captured). */
  readonly usageGapMs?: number;
  /** Stop answering (keep reading) once this many commands are answered. */
  readonly stallAfterCommands?: number;
  /** Send these bytes instead of an env block (then behave normally). */
  readonly garbage?: string | Buffer;
  /** Connect and send nothing at all. */
  readonly silent?: boolean;
  /** Destroy the connection when command #N (1-based) arrives, without answering it. */
  readonly closeOnCommand?: number;
  /** Guard: fail the run if the session has not ended by then (default 10 000 ms). */
  readonly timeoutMs?: number;
}

export interface FakeAsteriskResult {
  /** Command lines received, decoded as UTF-8, without the `\n`. */
  readonly commands: string[];
  /** The same lines as raw bytes. */
  readonly rawCommands: Buffer[];
  /** The channel variable store at the end (seeded from the fixture, changed by SET VARIABLE). */
  readonly variables: Map<string, string>;
  /** Who ended the TCP session: the server (FIN or reset) or the fake (closeOnCommand). */
  readonly closedBy: 'server' | 'fake';
  /** The server reset the connection instead of a FIN. */
  readonly reset: boolean;
  readonly hangupSent: boolean;
  readonly durationMs: number;
}

export class PipelinedCommandError extends Error {
  constructor(readonly command: string) {
    super(`server pipelined ${JSON.stringify(command)} before the previous command was answered`);
  }
}

const USAGE: Readonly<Record<string, string>> = {
  'GET VARIABLE':
    'Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in parentheses.\nExample return code: 200 result=1 (testvariable)',
  'GET FULL VARIABLE':
    'Evaluates the given <replaceable>expression</replaceable> against the channel specified by <replaceable>channelname</replaceable>, or the current channel if <replaceable>channelname</replaceable> is not provided.\nExample return code: 200 result=1 (The time is 1578493800)',
  'SET VARIABLE': 'Sets a variable to the current channel.',
  VERBOSE:
    'Sends <replaceable>message</replaceable> to the console via verbose message system. <replaceable>level</replaceable> is the verbose level (1-4). Always returns <literal>1</literal>',
  EXEC: 'Executes <replaceable>application</replaceable> with given <replaceable>options</replaceable>.',
  'CHANNEL STATUS': 'Returns the status of the specified <replaceable>channelname</replaceable>.',
  HANGUP: 'Hangs up the specified channel. If no channel name is given, hangs up the current channel',
};

const COMMANDS: ReadonlyArray<readonly string[]> = [
  ['GET', 'FULL', 'VARIABLE'],
  ['GET', 'VARIABLE'],
  ['SET', 'VARIABLE'],
  ['CHANNEL', 'STATUS'],
  ['ANSWER'],
  ['VERBOSE'],
  ['NOOP'],
  ['EXEC'],
  ['HANGUP'],
];

const DEAD = '511 Command Not Permitted on a dead channel or intercept routine\n';
const UNKNOWN = '510 Invalid or unknown command\n';

/** Asterisk's parse_args() (res_agi.c), character for character. */
export function parseAgiArgs(line: string): string[] {
  const argv: string[] = [];
  let cur: string | undefined;
  let quoted = false;
  let escaped = false;
  let whitespace = true;
  const startWord = (): void => {
    if (cur !== undefined) argv.push(cur);
    cur = '';
  };
  for (const ch of line) {
    if (ch === '"' && !escaped) {
      quoted = !quoted;
      if (quoted && whitespace) {
        startWord();
        whitespace = false;
      }
      escaped = false;
      continue;
    }
    if ((ch === ' ' || ch === '\t') && !quoted && !escaped) {
      whitespace = true;
      continue;
    }
    if (ch === '\\' && !escaped) {
      escaped = true;
      continue;
    }
    if (whitespace) {
      startWord();
      whitespace = false;
    }
    cur += ch;
    escaped = false;
  }
  if (cur !== undefined) argv.push(cur);
  return argv;
}

function findCommand(argv: readonly string[]): string | undefined {
  for (const words of COMMANDS) {
    if (words.every((w, i) => argv[i]?.toUpperCase() === w)) return words.join(' ');
  }
  return undefined;
}

function buildEnv(opts: FakeAsteriskOptions): Buffer {
  const pairs: Array<[string, string]> = opts.fixture.envLines.map((l) => {
    const c = l.indexOf(':');
    return [l.slice(0, c), l.slice(c + 2)];
  });
  const set = (k: string, v: string): void => {
    const at = pairs.findIndex(([key]) => key === k);
    if (at === -1) pairs.push([k, v]);
    else pairs[at] = [k, v];
  };
  if (opts.script !== undefined || opts.query !== undefined) {
    const current = pairs.find(([k]) => k === 'agi_network_script')?.[1] ?? '';
    const q = current.indexOf('?');
    const script = opts.script ?? (q === -1 ? current : current.slice(0, q));
    const query =
      opts.query === undefined
        ? q === -1 ? '' : current.slice(q + 1)
        : typeof opts.query === 'string' ? opts.query : new URLSearchParams(opts.query).toString();
    const path = query === '' ? script : `${script}?${query}`;
    set('agi_network_script', path);
    set('agi_request', `agi://127.0.0.1:4573/${path}`);
  }
  if (opts.args !== undefined) {
    for (let i = pairs.length - 1; i >= 0; i--) if (pairs[i]?.[0].startsWith('agi_arg_')) pairs.splice(i, 1);
    opts.args.forEach((a, i) => pairs.push([`agi_arg_${i + 1}`, a]));
  }
  for (const [k, v] of Object.entries(opts.envOverrides ?? {})) set(k, v);
  return Buffer.from(`${pairs.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n`);
}

function chunkEnv(env: Buffer, chunking: EnvChunking): Buffer[] {
  let cuts: number[];
  if (chunking === 'whole') return [env];
  if (chunking === 'asterisk') {
    const at = env.indexOf('\nagi_extension:');
    cuts = at === -1 ? [] : [at + 1];
  } else if (chunking === 'lines') {
    cuts = [];
    for (let i = env.indexOf(0x0a); i !== -1 && i < env.length - 1; i = env.indexOf(0x0a, i + 1)) cuts.push(i + 1);
  } else if (chunking === 'utf8-split') {
    cuts = [];
    for (let i = 0; i < env.length && cuts.length < 2; i++) {
      // Cut right after a lead byte: the character's continuation bytes go in the next chunk.
      const b = env[i] as number;
      if (b >= 0xc0) {
        cuts.push(i + 1);
        i += 8;
      }
    }
    if (cuts.length === 0) throw new Error('utf8-split chunking needs a non-ASCII env value (use envOverrides)');
  } else {
    cuts = [...chunking];
  }
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    if (c > prev && c < env.length) {
      out.push(env.subarray(prev, c));
      prev = c;
    }
  }
  out.push(env.subarray(prev));
  return out;
}

/** Runs one FastAGI session against the server at `port`; resolves when the TCP session has ended. */
export function runAgiSession(opts: FakeAsteriskOptions): Promise<FakeAsteriskResult> {
  return new FakeAsteriskSession(opts).run();
}

class FakeAsteriskSession {
  private readonly opts: FakeAsteriskOptions;
  private readonly variables: Map<string, string>;
  private readonly commands: string[] = [];
  private readonly rawCommands: Buffer[] = [];
  private socket!: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private pendingStartChunk = 0;
  private chunkSeq = 0;
  /** chunkSeq at the moment the previous answer was fully written. */
  private lastAnswerChunk = -1;
  private readonly lineQueue: Array<{ raw: Buffer; startChunk: number }> = [];
  private working = false;
  private answered = 0;
  private dead: boolean;
  private hangupSent = false;
  private closing = false;
  private closedBy: 'server' | 'fake' = 'server';
  private reset = false;
  private violation: PipelinedCommandError | undefined;
  private workerError: unknown;

  constructor(opts: FakeAsteriskOptions) {
    this.opts = opts;
    this.variables = new Map(opts.fixture.variables);
    for (const [k, v] of Object.entries(opts.variables ?? {})) this.variables.set(k, v);
    this.dead = opts.deadChannel ?? false;
  }

  run(): Promise<FakeAsteriskResult> {
    const started = performance.now();
    return new Promise<FakeAsteriskResult>((resolve, reject) => {
      const guard = setTimeout(() => {
        this.socket.destroy();
        reject(new Error(`fake asterisk: session did not end within ${this.opts.timeoutMs ?? 10_000} ms`));
      }, this.opts.timeoutMs ?? 10_000);
      this.socket = connect({
        port: this.opts.port,
        host: this.opts.host ?? '127.0.0.1',
        ...(this.opts.localAddress !== undefined ? { localAddress: this.opts.localAddress } : {}),
      });
      this.socket.setNoDelay(true);
      this.socket.on('connect', () => {
        this.start().catch((err: unknown) => {
          this.workerError ??= err;
        });
      });
      this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
      this.socket.on('end', () => {
        // The server's FIN: Asterisk answers with HANGUP and closes (obs. 4 of the captures).
        if (!this.closing) {
          this.closing = true;
          this.socket.end('HANGUP\n');
        }
      });
      this.socket.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.reset = true;
        else this.workerError ??= err;
      });
      this.socket.on('close', () => {
        clearTimeout(guard);
        const err = this.violation ?? this.workerError;
        if (err !== undefined) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        resolve({
          commands: this.commands,
          rawCommands: this.rawCommands,
          variables: this.variables,
          closedBy: this.closedBy,
          reset: this.reset,
          hangupSent: this.hangupSent,
          durationMs: performance.now() - started,
        });
      });
    });
  }

  private async start(): Promise<void> {
    if (this.opts.silent) return;
    if (this.opts.garbage !== undefined) {
      this.write(this.opts.garbage);
      return;
    }
    const chunks = chunkEnv(buildEnv(this.opts), this.opts.chunking ?? 'whole');
    const delay = this.opts.chunkDelayMs ?? (chunks.length > 1 ? 5 : 0);
    for (let i = 0; i < chunks.length; i++) {
      if (i > 0 && delay > 0) await sleep(delay);
      if (!this.write(chunks[i] as Buffer)) return;
    }
    if (this.opts.hangupAfterCommands === 0) this.sendHangup();
  }

  private write(data: string | Buffer): boolean {
    if (this.closing || this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(data);
    return true;
  }

  private sendHangup(): void {
    if (this.hangupSent) return;
    this.hangupSent = true;
    this.dead = true;
    this.write('HANGUP\n');
  }

  private onData(chunk: Buffer): void {
    this.chunkSeq++;
    if (this.closing) return; // after the FIN Asterisk stops reading
    let buf = chunk;
    let startChunk = this.pending.length > 0 ? this.pendingStartChunk : this.chunkSeq;
    if (this.pending.length > 0) buf = Buffer.concat([this.pending, chunk]);
    let from = 0;
    for (let nl = buf.indexOf(0x0a); nl !== -1; nl = buf.indexOf(0x0a, from)) {
      this.lineQueue.push({ raw: Buffer.from(buf.subarray(from, nl)), startChunk });
      from = nl + 1;
      startChunk = this.chunkSeq;
    }
    this.pending = Buffer.from(buf.subarray(from));
    this.pendingStartChunk = startChunk;
    if (!this.working) {
      this.working = true;
      this.work()
        .catch((err: unknown) => {
          this.workerError ??= err;
          this.socket.destroy();
        })
        .finally(() => {
          this.working = false;
        });
    }
  }

  private async work(): Promise<void> {
    for (let item = this.lineQueue.shift(); item !== undefined; item = this.lineQueue.shift()) {
      if (this.closing) return;
      const index = this.commands.length + 1;
      const line = item.raw.toString('utf8');
      this.commands.push(line);
      this.rawCommands.push(item.raw);
      if (index > 1 && item.startChunk <= this.lastAnswerChunk) {
        this.violation ??= new PipelinedCommandError(line);
      }
      if (this.opts.closeOnCommand === index) {
        this.closing = true;
        this.closedBy = 'fake';
        this.socket.destroy();
        return;
      }
      if (this.opts.stallAfterCommands !== undefined && this.answered >= this.opts.stallAfterCommands) continue;
      if (this.opts.hangupBeforeAnswerOf === index) {
        this.sendHangup();
        await sleep(5);
      }
      if (this.opts.answerDelayMs !== undefined && this.opts.answerDelayMs > 0) await sleep(this.opts.answerDelayMs);
      const parts = this.answer(line);
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await sleep(this.opts.usageGapMs ?? 40);
        this.write(parts[i] as string);
      }
      this.lastAnswerChunk = this.chunkSeq;
      this.answered++;
      if (this.opts.hangupAfterCommands === this.answered) this.sendHangup();
    }
  }

  /** The answer to one command line, as the writes Asterisk would make. */
  private answer(line: string): string[] {
    const argv = parseAgiArgs(line);
    const command = findCommand(argv);
    if (command === undefined) return [UNKNOWN];
    const argc = argv.length;
    const usage = (): string[] => [
      '520-Invalid command syntax.  Proper usage follows:\n',
      `${USAGE[command] ?? ''}\n520 End of proper usage.\n`,
    ];
    switch (command) {
      case 'GET VARIABLE': {
        if (argc !== 3) return usage();
        const v = this.variables.get(argv[2] as string);
        if (v === undefined) return ['200 result=0\n'];
        return [`200 result=1 (${Buffer.from(v).subarray(0, 1023).toString('utf8')})\n`];
      }
      case 'GET FULL VARIABLE': {
        if (argc < 4 || argc > 5) return usage();
        if (argc === 5) return ['200 result=0\n']; // no such channel
        return [`200 result=1 (${substituteExpression(argv[3] as string, (n) => this.variables.get(n))})\n`];
      }
      case 'SET VARIABLE': {
        if (argc !== 4) return usage();
        this.setVariable(argv[2] as string, argv[3] as string);
        return ['200 result=1\n'];
      }
      case 'ANSWER':
        return this.dead ? [DEAD] : ['200 result=0\n'];
      case 'CHANNEL STATUS':
        if (this.dead) return [DEAD];
        return argc > 3 ? usage() : ['200 result=6\n'];
      case 'VERBOSE':
        return argc < 2 ? usage() : ['200 result=1\n'];
      case 'NOOP':
        return ['200 result=0\n'];
      case 'EXEC': {
        if (argc < 2) return usage();
        const app = (argv[1] as string).toLowerCase();
        if (app === 'set') {
          const [name, ...rest] = (argv[2] ?? '').split('=');
          if (name !== undefined && name !== '') this.setVariable(name, rest.join('='));
          return ['200 result=0\n'];
        }
        if (app === 'mset') {
          // pbx_builtin_setvar_multiple(): pairs split on ',', name/value on '='; a pair without a value is ignored.
          for (const pair of (argv[2] ?? '').replace(/["\\]/g, '').split(',')) {
            const eq = pair.indexOf('=');
            if (eq > 0 && eq < pair.length - 1) this.setVariable(pair.slice(0, eq), pair.slice(eq + 1));
          }
          return ['200 result=0\n'];
        }
        return app === 'noop' ? ['200 result=0\n'] : ['200 result=-2\n'];
      }
      case 'HANGUP':
        if (argc > 2) return usage();
        setImmediate(() => this.sendHangup());
        return ['200 result=1\n'];
      default:
        return [UNKNOWN];
    }
  }

  private setVariable(name: string, value: string): void {
    this.variables.set(name, value);
    if (name === 'CALLERID(name)' || name === 'CALLERID(num)') {
      const cname = this.variables.get('CALLERID(name)') ?? '';
      const num = this.variables.get('CALLERID(num)') ?? '';
      this.variables.set('CALLERID(all)', `"${cname}" <${num}>`);
    }
  }
}
