/**
 * The `(args, env)` form of cli-process.ts's runCliProcess, for tests that only set the environment: the same
 * real process (`node -- dist/src/cli.js …`), its exit status, stdout and stderr.
 */
import { runCliProcess as runProcess } from './cli-process.js';

export interface CliProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCliProcess(args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<CliProcessResult> {
  const r = await runProcess(args, { env }, timeoutMs);
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}
