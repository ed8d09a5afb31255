/**
 * CPU time of the processes a benchmark involves, read from /proc (Linux): this process, the load generator, the
 * fake RetailCRM, and the PostgreSQL backends serving one database. Shows where a call's CPU goes on the machine,
 * which wall-clock figures on shared cores cannot. Zero where /proc cannot be read. And a CPU profile of this
 * process over a window (`--profile`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

const TICKS_PER_MS = 100 / 1000; // USER_HZ is 100 on Linux

/** utime + stime of the processes `match` accepts, in ms. */
function cpuMsOf(match: (pid: number, cmdline: string) => boolean): number {
  let ms = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!match(Number(pid), cmdline)) continue;
      const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
      ms += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_MS;
    } catch {
      // the process ended meanwhile
    }
  }
  return ms;
}

export interface CpuParts {
  readonly server: number;
  readonly generator: number;
  readonly crm: number;
  readonly postgres: number;
}

/** A snapshot of the parts' CPU ms; `database` names the bench database whose backends count as PostgreSQL's. */
export function cpuSnapshot(pids: { generator: number | undefined; crm: number | undefined }, database: string | undefined): CpuParts {
  return {
    server: cpuMsOf((pid) => pid === process.pid),
    generator: pids.generator === undefined ? 0 : cpuMsOf((pid) => pid === pids.generator),
    crm: pids.crm === undefined ? 0 : cpuMsOf((pid) => pid === pids.crm),
    postgres: database === undefined ? 0 : cpuMsOf((_pid, cmd) => cmd.startsWith('postgres:') && cmd.includes(` ${database} `)),
  };
}

/** µs per session of each part between two snapshots. */
export function cpuPerSession(before: CpuParts, after: CpuParts, sessions: number): CpuParts {
  const per = (k: keyof CpuParts): number => ((after[k] - before[k]) * 1000) / sessions;
  return { server: per('server'), generator: per('generator'), crm: per('crm'), postgres: per('postgres') };
}

/** A V8 CPU profile of this process from now until stop(file) (a .cpuprofile for bench/profile-summary.ts). */
export async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
    },
  };
}
