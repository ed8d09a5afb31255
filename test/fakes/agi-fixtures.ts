/**
 * Loader for the recorded FastAGI sessions in test/fixtures/agi/<scenario>__<script>.json (Asterisk 22.10.1,
 * see test/fixtures/agi/README.md): the env block as Asterisk sent it and the channel variables it reported,
 * so fakes and tests can replay any of the 54 sessions.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fixturePath } from '../helpers/paths.js';

export interface AgiFlowExchange {
  readonly cmd: string;
  readonly response: string;
  readonly parsed: { readonly code: number; readonly result?: string; readonly value?: string; readonly text?: string };
}

export interface HangupValue {
  /** GET VARIABLE: undefined when Asterisk said `200 result=0` (unset). */
  readonly get: string | undefined;
  /** GET FULL VARIABLE ${X}: '' for unset; undefined where the recorder did not ask (HANGUPCAUSE(chan,...)). */
  readonly full: string | undefined;
}

export interface AgiFlow {
  /** File name without `.json`, e.g. `inbound_answered__incoming`. */
  readonly name: string;
  readonly scenario: string;
  /** `incoming`, `outgoing` or `hangup`. */
  readonly script: string;
  /** agi_network_script as recorded, e.g. `incoming?enterprise=0367`. */
  readonly scriptPath: string;
  /** Env pairs in the order Asterisk sent them (`agi_accountcode` → ''). */
  readonly env: ReadonlyArray<readonly [string, string]>;
  /** `key: value` lines, without the terminating empty line (an empty value keeps its trailing space). */
  readonly envLines: readonly string[];
  /**
   * Channel variables Asterisk reported as set before the session wrote anything: GET VARIABLE answers
   * with result=1 (for /hangup flows, every `hangup_values` entry whose GET was set).
   */
  readonly variables: ReadonlyMap<string, string>;
  /** /hangup flows only (empty otherwise): variable → GET and GET FULL values. */
  readonly hangupValues: ReadonlyMap<string, HangupValue>;
  readonly exchanges: readonly AgiFlowExchange[];
  /** Unsolicited lines (HANGUP) with whether they came after the server's FIN. */
  readonly asyncLines: ReadonlyArray<{ readonly t: number; readonly line: string; readonly after_server_fin?: boolean }>;
}

interface RawFlow {
  scenario: string;
  script: string;
  script_path: string;
  env: Array<[string, string]>;
  exchanges: AgiFlowExchange[];
  async_lines?: Array<{ t: number; line: string; after_server_fin?: boolean }>;
  hangup_values?: Record<string, { get: string | null; full?: string }>;
}

/** Names of every recorded flow (`inbound_answered__incoming`, ...), sorted. */
export function listAgiFlows(): string[] {
  return readdirSync(fixturePath('agi'))
    .filter((f) => /__(incoming|outgoing|hangup)\.json$/.test(f))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function loadAgiFlow(name: string): AgiFlow {
  const file = name.endsWith('.json') ? name : `${name}.json`;
  const raw = JSON.parse(readFileSync(fixturePath('agi', file), 'utf8')) as RawFlow;
  const variables = new Map<string, string>();
  const hangupValues = new Map<string, HangupValue>();
  if (raw.hangup_values !== undefined) {
    for (const [k, v] of Object.entries(raw.hangup_values)) {
      hangupValues.set(k, { get: v.get ?? undefined, full: v.full });
      if (v.get !== null) variables.set(k, v.get);
    }
  }
  const written = new Set<string>();
  for (const ex of raw.exchanges) {
    const set = /^SET VARIABLE (\S+)/.exec(ex.cmd);
    if (set?.[1] !== undefined) written.add(set[1]);
    const get = /^GET VARIABLE (\S+)$/.exec(ex.cmd);
    const varName = get?.[1];
    if (varName === undefined || written.has(varName) || variables.has(varName)) continue;
    if (ex.parsed.code === 200 && ex.parsed.result === '1') variables.set(varName, ex.parsed.value ?? '');
  }
  return {
    name: file.slice(0, -5),
    scenario: raw.scenario,
    script: raw.script,
    scriptPath: raw.script_path,
    env: raw.env,
    envLines: raw.env.map(([k, v]) => `${k}: ${v}`),
    variables,
    hangupValues,
    exchanges: raw.exchanges,
    asyncLines: raw.async_lines ?? [],
  };
}
