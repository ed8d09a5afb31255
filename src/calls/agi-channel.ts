/**
 * What the call pipelines need from a FastAGI session. The AGI protocol layer (src/agi/session.ts) satisfies it;
 * keeping the pipelines on this narrow interface keeps business logic apart from the protocol.
 */
export interface AgiChannelEnv {
  readonly channel: string;
  readonly uniqueid: string;
  readonly callerid: string;
  readonly calleridname: string;
  readonly context: string;
  readonly extension: string;
}

export interface AgiChannel {
  readonly env: AgiChannelEnv;
  readonly script: string;
  readonly query: URLSearchParams;
  readonly hungUp: boolean;
  /** The FastAGI peer (the PBX) as the socket reports it; checked against the enterprise's PBX addresses. */
  readonly remoteAddress?: string | undefined;
  getVariable(name: string): Promise<string | undefined>;
  /** Evaluates an expression such as `${CHANNEL(linkedid)}`; '' for unset variables. */
  getFullVariable?(expression: string): Promise<string | undefined>;
  setVariable(name: string, value: string): Promise<void>;
  /** Runs a dialplan application (used for MSet: several validated variables in one round trip). */
  exec?(application: string, options: string): Promise<string>;
}

/** Asterisk writes `unknown` for an empty caller id, name, dnid or rdnis in the environment block. */
export function envValue(value: string | undefined): string {
  return value === undefined || value === 'unknown' ? '' : value;
}
