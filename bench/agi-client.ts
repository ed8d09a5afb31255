/**
 * A lean simulated Asterisk for benchmarks: connects, writes an environment block, answers each command the way
 * Asterisk does (one at a time: it never reads a second command before answering the first), and measures the
 * session from connect to the server's close. Leaner than the test fake so the client costs little CPU.
 */
import net from 'node:net';
import { substituteExpression } from '../test/fakes/agi-expression.js';

export interface SessionSpec {
  readonly port: number;
  readonly script: string;
  readonly callerId: string;
  readonly uniqueid: string;
  /** Channel variables GET VARIABLE answers (anything else is unset). */
  readonly variables?: Readonly<Record<string, string>>;
  /** Called with performance.now() when the connection is established. */
  readonly onConnect?: (at: number) => void;
}

function envBlock(s: SessionSpec): string {
  return [
    'agi_network: yes',
    `agi_network_script: ${s.script}`,
    `agi_request: agi://127.0.0.1:${s.port}/${s.script}`,
    'agi_channel: PJSIP/trunk-00000001',
    'agi_language: en',
    'agi_type: PJSIP',
    `agi_uniqueid: ${s.uniqueid}`,
    'agi_version: 22.10.1',
    `agi_callerid: ${s.callerId}`,
    'agi_calleridname: unknown',
    'agi_callingpres: 0',
    'agi_callingani2: 0',
    'agi_callington: 0',
    'agi_callingtns: 0',
    'agi_dnid: unknown',
    'agi_rdnis: unknown',
    'agi_context: from-trunk',
    'agi_extension: 17175550100',
    'agi_priority: 2',
    'agi_enhanced: 0.0',
    'agi_accountcode: ',
    'agi_threadid: 140166780237504',
    '',
    '',
  ].join('\n');
}

/** Runs one session; resolves with its duration in ms and the number of commands answered. */
export function runSession(s: SessionSpec): Promise<{ ms: number; commands: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let buffer = '';
    let commands = 0;
    const socket = net.connect({ port: s.port, host: '127.0.0.1', noDelay: true });
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      s.onConnect?.(performance.now());
      socket.write(envBlock(s));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        commands++;
        if (line.startsWith('GET FULL VARIABLE')) {
          const expression = line.slice('GET FULL VARIABLE '.length).trim().replace(/^"|"$/g, '').replace(/\\(.)/g, '$1');
          socket.write(`200 result=1 (${substituteExpression(expression, (n) => (n === 'CHANNEL(linkedid)' ? s.uniqueid : s.variables?.[n]))})\n`);
        }
        else if (line.startsWith('GET VARIABLE')) {
          const value = s.variables?.[line.slice('GET VARIABLE '.length).trim().replace(/^"|"$/g, '')];
          socket.write(value === undefined ? '200 result=0\n' : `200 result=1 (${value})\n`);
        }
        else socket.write('200 result=1\n');
      }
    });
    socket.on('end', () => {
      socket.end();
    });
    socket.on('close', () => resolve({ ms: performance.now() - started, commands }));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') return;
      reject(err);
    });
    socket.setTimeout(30_000, () => socket.destroy(new Error('bench session timed out')));
  });
}

/** Runs `total` sessions with `concurrency` in flight; returns per-session latencies and the wall time. */
export function drive(
  total: number,
  concurrency: number,
  spec: (i: number) => SessionSpec,
  onProgress?: (done: number) => void,
): Promise<{ latencies: number[]; wallMs: number }> {
  return driveUnits(total, concurrency, async (i) => (await runSession(spec(i))).ms, onProgress);
}

/** Runs `total` units (a session, a whole call) with `concurrency` in flight; each resolves with its latency. */
export async function driveUnits(
  total: number,
  concurrency: number,
  unit: (i: number) => Promise<number>,
  onProgress?: (done: number) => void,
): Promise<{ latencies: number[]; wallMs: number }> {
  const latencies: number[] = new Array<number>(total);
  let next = 0;
  let done = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      latencies[i] = await unit(i);
      done++;
      onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return { latencies, wallMs: performance.now() - started };
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] ?? NaN;
}
