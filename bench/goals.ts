/**
 * Issue 11's goals as `npm run bench` checks them: each part of the run records the figures a goal is about (with
 * the baseline measured in the same run), and run.ts prints one table at the end: figure, goal, met or not met.
 * A goal whose part was not run (`--only`) is listed as not measured, never as met.
 */

export interface GoalResult {
  readonly goal: string;
  /** The measured figure as printed, e.g. "1.21x bare (0.61 ms vs 0.50 ms)". */
  readonly figure: string;
  readonly target: string;
  readonly met: boolean;
}

export class GoalBook {
  private readonly results: GoalResult[] = [];
  private readonly expected: string[];

  constructor(expected: readonly string[]) {
    this.expected = [...expected];
  }

  record(goal: string, figure: string, target: string, met: boolean): void {
    this.results.push({ goal, figure, target, met });
  }

  table(): string {
    const lines = ['| goal | measured | target | result |', '|---|---|---|---|'];
    for (const r of this.results) lines.push(`| ${r.goal} | ${r.figure} | ${r.target} | ${r.met ? 'met' : '**not met**'} |`);
    const measured = new Set(this.results.map((r) => r.goal.split(':')[0]));
    for (const e of this.expected) if (!measured.has(e)) lines.push(`| ${e} | not measured in this run | | |`);
    return lines.join('\n');
  }
}

/** The goals' families, as issue 11 lists them (the part before ':' in a recorded goal). */
export const ISSUE_11_GOALS = [
  'cache-hit /incoming, popups on',
  'popup latency',
  '/hangup round trips',
  'history polling',
  'analytics year view',
] as const;
