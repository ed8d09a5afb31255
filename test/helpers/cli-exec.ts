/** Runs the built CLI (`node dist/src/cli.js …`) as a real process: exit status, stdout and stderr. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from './paths.js';

export interface CliProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCliProcess(args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<CliProcessResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(projectRoot, 'dist', 'src', 'cli.js'), ...args],
      { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}
