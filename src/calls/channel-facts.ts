/**
 * Reading many channel variables in one round trip: real Asterisk answers one AGI command at a time, so every
 * round trip saved shortens the call path (and /hangup's time on a dead channel). One `GET FULL VARIABLE` of a
 * composed expression `${LEN(${A})}:${A}${LEN(${B})}:${B}…` returns every value prefixed by its byte length, so
 * no value (a file name with `|`, a name with `:`) can shift the others. If the answer does not parse (an
 * Asterisk that lacks GET FULL VARIABLE, a value cut by AGI's line limit), each variable is read on its own.
 */
import type { AgiChannel } from './agi-channel.js';

/** AGI command lines are read into a 2 KiB buffer by Asterisk; stay well below it. */
const MAX_EXPRESSION = 1800;

function expressionOf(names: readonly string[]): string {
  return names.map((n) => `\${LEN(\${${n}})}:\${${n}}`).join('');
}

/** Splits `<len>:<value><len>:<value>…` (lengths in UTF-8 bytes); undefined if it does not add up exactly. */
export function parseLengthPrefixed(answer: string, count: number): string[] | undefined {
  const bytes = Buffer.from(answer, 'utf8');
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const colon = bytes.indexOf(0x3a, at);
    if (colon < 0 || colon - at > 7) return undefined;
    const lenText = bytes.subarray(at, colon).toString('latin1');
    if (!/^\d+$/.test(lenText)) return undefined;
    const len = Number(lenText);
    const end = colon + 1 + len;
    if (end > bytes.length) return undefined;
    out.push(bytes.subarray(colon + 1, end).toString('utf8'));
    at = end;
  }
  return at === bytes.length ? out : undefined;
}

/** The values of `names` (missing variables read as ''), in one round trip when possible. */
export async function readChannelVariables<N extends string>(session: AgiChannel, names: readonly N[]): Promise<Record<N, string>> {
  const out = {} as Record<N, string>;
  const expression = expressionOf(names);
  if (session.getFullVariable && expression.length <= MAX_EXPRESSION) {
    const answer = await session.getFullVariable(expression);
    const values = answer === undefined ? undefined : parseLengthPrefixed(answer, names.length);
    if (values) {
      names.forEach((n, i) => (out[n] = values[i] ?? ''));
      return out;
    }
  }
  for (const n of names) out[n] = (await session.getVariable(n)) ?? '';
  return out;
}

export interface ChannelFacts {
  readonly linkedid: string;
  readonly enterpriseVar: string;
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * The facts the shipped dialplan passes in the AGI URL, which saves a round trip to Asterisk on the call path:
 * `linkedid=${CHANNEL(linkedid)}` and, for each of `extra` (variable → query parameter), the variable's value
 * URI-encoded (`ring=${URIENCODE(${RCRM_RING_CODES})}`). Null when the URL lacks any of them (an older dialplan,
 * a hand-written one): the caller reads them from the channel then. RCRM_ENTERPRISE is not read this way; the
 * URL names the enterprise (`enterprise=`), or resolveEnterprise reads the variable.
 */
export function channelFactsFromUrl(session: AgiChannel, extra: Readonly<Record<string, string>>): ChannelFacts | null {
  const linkedid = session.query.get('linkedid')?.trim();
  if (linkedid === undefined || linkedid === '') return null;
  const out: Record<string, string> = {};
  for (const [name, param] of Object.entries(extra)) {
    const value = session.query.get(param);
    if (value === null) return null;
    out[name] = value;
  }
  return { linkedid, enterpriseVar: '', extra: out };
}

/** Reads CHANNEL(linkedid), RCRM_ENTERPRISE and `extra` variables. */
export async function readChannelFacts(session: AgiChannel, extra: readonly string[]): Promise<ChannelFacts> {
  const values = await readChannelVariables(session, ['CHANNEL(linkedid)', 'RCRM_ENTERPRISE', ...extra]);
  const out: Record<string, string> = {};
  for (const name of extra) out[name] = values[name] ?? '';
  const linkedid = (values['CHANNEL(linkedid)'] ?? '').trim();
  return {
    linkedid: linkedid === '' ? session.env.uniqueid : linkedid,
    enterpriseVar: (values['RCRM_ENTERPRISE'] ?? '').trim(),
    extra: out,
  };
}

/** channelFactsFromUrl when the URL has them all, else one round trip (readChannelFacts). */
export async function channelFacts(session: AgiChannel, extra: Readonly<Record<string, string>>): Promise<ChannelFacts> {
  return channelFactsFromUrl(session, extra) ?? readChannelFacts(session, Object.keys(extra));
}
