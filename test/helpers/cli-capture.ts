/** Runs the CLI in-process (runCli) and captures what it prints: exit status, stdout and stderr lines joined. */
import { runCli } from '../../src/cli.js';

export interface CapturedCli {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCliCapture(argv: readonly string[], env: Readonly<Record<string, string>>): Promise<CapturedCli> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}
