/**
 * `npm run bench`: every benchmark of the project, printed as the markdown tables docs/benchmarks.md quotes.
 * Needs the local PostgreSQL (TEST_DATABASE_URL or 127.0.0.1:5432). `--quick` runs a tenth of the sessions;
 * `--only agi|incoming|memory|calls|stages|history|analytics|mp3` runs one part (agi includes incoming, the
 * issue 11 goal rounds; calls includes stages). The run ends with issue 11's goals: figure, target, met or not.
 * `--profile FILE` writes a CPU profile of the service during its first /incoming round at concurrency 50.
 */
import os from 'node:os';
import { runAgiBench, runIncomingGoals, runMemoryBench } from './agi-bench.js';
import { runAnalyticsBench } from './analytics-bench.js';
import { runCallFlowBench } from './call-flow-bench.js';
import { GoalBook, ISSUE_11_GOALS } from './goals.js';
import { runHistoryPollBench } from './history-poll-bench.js';
import { runMp3Bench } from './mp3-bench.js';
import { runPopupStages } from './popup-stages-bench.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;
const profileIdx = args.indexOf('--profile');
const profile = profileIdx >= 0 ? args[profileIdx + 1] : undefined;
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
const book = new GoalBook(ISSUE_11_GOALS);
print(`load average before the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
print('');

if (want('agi') || only === 'incoming') {
  print('## Issue 11: cache-hit /incoming with popups on, against the bare server and ding-dong');
  print(await runIncomingGoals(book, { quick, ...(profile !== undefined ? { profile } : {}) }));
  print('');
}
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
if (want('calls') || only === 'stages') {
  print('## Popup path, stage by stage (one call at a time)');
  print(await runPopupStages({ quick }));
  print('');
}
if (want('calls')) {
  print('## Full calls: popup latency, requests per call, catch-up after an outage');
  print(await runCallFlowBench({ quick, book }));
  print('');
}
if (want('history')) {
  print('## History polling: requests per account with 1, 2 and 5 instances');
  print(await runHistoryPollBench({ quick, book }));
  print('');
}
if (want('mp3')) {
  print('## Recordings: MP3 conversion in worker threads');
  print(await runMp3Bench({ quick }));
  print('');
}
if (want('analytics')) {
  print('## Analytics on a year of calls');
  print(await runAnalyticsBench({ book }));
  print('');
}
print('## Issue 11 goals');
print(book.table());
print(`load average after the run: ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
