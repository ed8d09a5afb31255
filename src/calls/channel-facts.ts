/**
 * One round trip for what a pipeline needs from the channel beyond the environment block: the call's linkedid,
 * RCRM_ENTERPRISE and a few dialplan variables, read with a single `GET FULL VARIABLE` of a `|`-joined expression
 * (real Asterisk answers one command at a time, so every round trip saved shortens the call path).
 */
import type { AgiChannel } from './agi-channel.js';

export interface ChannelFacts {
  readonly linkedid: string;
  readonly enterpriseVar: string;
  readonly extra: Readonly<Record<string, string>>;
}

/** Reads CHANNEL(linkedid), RCRM_ENTERPRISE and `extra` variables; the last one may itself contain `|`. */
export async function readChannelFacts(session: AgiChannel, extra: readonly string[]): Promise<ChannelFacts> {
  const names = ['CHANNEL(linkedid)', 'RCRM_ENTERPRISE', ...extra];
  const expression = names.map((n) => `\${${n}}`).join('|');
  const value = session.getFullVariable ? await session.getFullVariable(expression) : undefined;
  const parts = (value ?? '').split('|');
  const head = parts.slice(0, names.length - 1);
  const tail = parts.slice(names.length - 1).join('|');
  const values = [...head, tail];
  const out: Record<string, string> = {};
  extra.forEach((name, i) => {
    out[name] = values[i + 2] ?? '';
  });
  const linkedid = (values[0] ?? '').trim();
  return {
    linkedid: linkedid === '' ? session.env.uniqueid : linkedid,
    enterpriseVar: (values[1] ?? '').trim(),
    extra: out,
  };
}
