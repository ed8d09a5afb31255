/**
 * `npm run bench`: every benchmark of the project, printed as the markdown tables docs/benchmarks.md quotes.
 * Needs the local PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432). `--quick` runs a tenth of the sessions;
 * `--only agi|memory|calls|history|analytics|mp3` runs one part.
 */
import os from 'node:os';
import { runAgiBench, runMemoryBench } from './agi-bench.js';
import { runAnalyticsBench } from './analytics-bench.js';
import { runCallFlowBench } from './call-flow-bench.js';
import { runHistoryPollBench } from './history-poll-bench.js';
import { runMp3Bench } from './mp3-bench.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;
const want = (part: string): boolean => only === undefined || only === part;

const out: string[] = [
  `# Benchmark run ${new Date().toISOString()}`,
  `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB${quick ? ', --quick' : ''}`,
  '',
];
const print = (s: string): void => {
  out.push(s);
  process.stdout.write(`${s}\n`);
};
process.stdout.write(`${out.join('\n')}\n`);

if (want('agi')) {
  print('## /incoming: names and routing only (enterprise with telephony events off)');
  print(await runAgiBench({ quick, telephonyEvents: false }));
  print('');
  print('## /incoming: full product (popup and call record for every call)');
  print(await runAgiBench({ quick, telephonyEvents: true }));
  print('');
}
if (want('memory')) {
  print('## Memory over a long run (cache hits, concurrency 50, telephony events on)');
  print(await runMemoryBench({ quick, telephonyEvents: true }));
  print('');
}
if (want('calls')) {
  print('## Full calls: popup latency, requests per call, catch-up after an outage');
  print(await runCallFlowBench({ quick }));
  print('');
}
if (want('history')) {
  print('## History polling: requests per account with 1, 2 and 5 instances');
  print(await runHistoryPollBench({ quick }));
  print('');
}
if (want('mp3')) {
  print('## Recordings: MP3 conversion in worker threads');
  print(await runMp3Bench({ quick }));
  print('');
}
if (want('analytics')) {
  print('## Analytics on a year of calls');
  print(await runAnalyticsBench());
  print('');
}
