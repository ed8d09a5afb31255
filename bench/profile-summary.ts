/**
 * Flame-graph summary of a V8 CPU profile (`node --cpu-prof`): self time by function and by where the code lives
 * (our src/, each package, Node.js internals, GC, idle), as markdown. Used for docs/benchmarks.md's summary:
 * `node dist/bench/profile-summary.js <file.cpuprofile> [top]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function area(url: string, fn: string): string {
  if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
  if (url === '') return '(native / V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `package ${pkg[1]}`;
  if (url.startsWith('node:')) return 'Node.js internals';
  const ours = /\/dist\/(src|bench|test)\/(.*)$/.exec(url);
  if (ours) return `${ours[1]}/${(ours[2] ?? '').split('/')[0]}`;
  return url;
}

export function summarise(profile: Profile, top = 25): string {
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] ?? -1;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const n of profile.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (us === 0) continue;
    const file = n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/');
    const key = `${n.callFrame.functionName || '(anonymous)'} ${file ? `${file}:${n.callFrame.lineNumber + 1}` : ''}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const a = area(n.callFrame.url, n.callFrame.functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const busy = total - (byArea.get('(idle)') ?? 0);
  const pct = (us: number, of: number): string => `${((100 * us) / of).toFixed(1)} %`;
  const lines = [
    `Profile of ${(total / 1e6).toFixed(1)} s; busy (not idle) ${pct(busy, total)}.`,
    '',
    '| where | self ms | share of busy time |',
    '|---|---:|---:|',
  ];
  for (const [a, us] of [...byArea].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, 15)) {
    lines.push(`| ${a} | ${(us / 1000).toFixed(0)} | ${pct(us, busy)} |`);
  }
  lines.push('', '| function (self time) | self ms | share of busy time |', '|---|---:|---:|');
  for (const [f, us] of [...byFn].filter(([f]) => !f.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) {
    lines.push(`| \`${f}\` | ${(us / 1000).toFixed(0)} | ${pct(us, busy)} |`);
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('profile-summary.js') && process.argv[2]) {
  const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Profile;
  process.stdout.write(`${summarise(profile, Number(process.argv[3] ?? 25))}\n`);
}
