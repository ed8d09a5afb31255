/**
 * Issue 10's MP3 figure: seconds of call audio converted per wall-clock second by the conversion pool (worker
 * threads), with 1 and 2 workers, and how much of that time the main thread was busy (event-loop utilisation):
 * it should stay near zero, since the call path shares that loop. The event-loop delay is printed beside an idle
 * baseline: on a shared machine other processes delay the loop too.
 * Input: the real 10 s MixMonitor recording (8 kHz mono 16-bit), converted at 32 kbps.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Mp3Converter } from '../src/recordings/mp3-converter.js';
import { fixturePath } from '../test/helpers/paths.js';

const RECORDING = 'in-20261126-033902-+375291234567-1795664342.0.wav';

export async function runMp3Bench(opts: { quick?: boolean } = {}): Promise<string> {
  const files = opts.quick ? 4 : 16;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rcrm-mp3-bench-'));
  const lines = [
    `${files} recordings of 10.02 s (8 kHz mono 16-bit PCM) → MP3 32 kbps; one worker thread per file, N at once.`,
    '',
    '| workers | wall time | audio s converted per s | per file (mean) | main thread busy (ELU active) | event-loop delay max / p99 |',
    '|---:|---:|---:|---:|---:|---:|',
  ];
  try {
    // The same measure with nothing converting: on a shared machine the loop is delayed by other processes too.
    const idle = monitorEventLoopDelay({ resolution: 10 });
    idle.enable();
    await new Promise((r) => setTimeout(r, opts.quick ? 2_000 : 5_000));
    idle.disable();
    lines.push(`| 0 (idle, baseline) | | | | | ${(idle.max / 1e6).toFixed(0)} / ${(idle.percentile(99) / 1e6).toFixed(0)} ms |`);
    for (let i = 0; i < files; i++) await copyFile(fixturePath('recordings', RECORDING), path.join(dir, `r${i}.wav`));
    for (const workers of [1, 2]) {
      const converter = new Mp3Converter({ workers, maxQueued: files, kbps: 32, timeoutMs: 120_000 });
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const elu = performance.eventLoopUtilization();
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: files }, (_, i) => converter.convert(path.join(dir, `r${i}.wav`), path.join(dir, `r${i}-${workers}.mp3`))),
      );
      const wallS = (performance.now() - started) / 1000;
      loop.disable();
      const busy = performance.eventLoopUtilization(elu);
      await converter.close();
      const audio = results.reduce((s, r) => s + (r.ok ? r.audioSeconds : 0), 0);
      if (results.some((r) => !r.ok)) throw new Error(`conversion failed: ${JSON.stringify(results.find((r) => !r.ok))}`);
      lines.push(
        `| ${workers} | ${wallS.toFixed(2)} s | ${(audio / wallS).toFixed(1)} | ${((wallS / files) * workers).toFixed(2)} s | ` +
          `${busy.active.toFixed(0)} ms of ${(wallS * 1000).toFixed(0)} (${(busy.utilization * 100).toFixed(1)}%) | ` +
          `${(loop.max / 1e6).toFixed(0)} / ${(loop.percentile(99) / 1e6).toFixed(0)} ms |`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return lines.join('\n');
}
