/**
 * The start of every FastAGI call: read what the environment block says, bind a child logger carrying the
 * call's identity, register the call as live, and resolve its enterprise (query parameter `enterprise`, else the
 * channel variable RCRM_ENTERPRISE).
 */
import { errorCode } from '../lib/errors.js';
import { callLog, maskPhone, type CallLog, type Logger } from '../lib/logger.js';
import { ENTERPRISE_NUMBER } from '../db/enterprise-store.js';
import { AddressAllowList } from '../lib/address-allow-list.js';
import type { AgiChannel } from './agi-channel.js';
import { envValue } from './agi-channel.js';
import type { EnterpriseDirectory, EnterpriseView } from './enterprise-directory.js';
import type { LiveCalls } from './live-calls.js';

export interface CallContext {
  readonly session: AgiChannel;
  readonly script: string;
  readonly uniqueid: string;
  readonly callerNumber: string;
  readonly startedAt: number;
  /** When the live call path must have answered Asterisk. */
  readonly deadline: number;
  log: CallLog;
  readonly done: () => void;
  readonly onPeerRefused: ((enterprise: string) => void) | undefined;
}

export interface CallContextDeps {
  readonly logger: Logger;
  readonly liveCalls: LiveCalls;
  readonly lookupBudgetMs: number;
  readonly now?: () => number;
  /** Told when a session is refused because its PBX may not act for the enterprise it names (for metrics). */
  readonly onPeerRefused?: (enterprise: string) => void;
}

export function readCall(session: AgiChannel, deps: CallContextDeps): CallContext {
  const now = (deps.now ?? Date.now)();
  const uniqueid = session.env.uniqueid;
  const enterpriseParam = session.query.get('enterprise') ?? undefined;
  const callerNumber = envValue(session.env.callerid);
  const log = callLog(deps.logger, {
    call: uniqueid,
    script: session.script,
    channel: session.env.channel,
    enterprise: enterpriseParam,
    caller: maskPhone(callerNumber),
  });
  const done = deps.liveCalls.add({ uniqueid, script: session.script, enterprise: enterpriseParam, startedAt: now });
  return {
    session,
    script: session.script,
    uniqueid,
    callerNumber,
    startedAt: now,
    deadline: now + deps.lookupBudgetMs,
    log,
    done,
    onPeerRefused: deps.onPeerRefused,
  };
}

export type EnterpriseResolution =
  | { readonly ok: true; readonly view: EnterpriseView }
  | { readonly ok: false; readonly reason: 'missing' | 'invalid' | 'unknown' | 'error' | 'peer_not_allowed' };

/** `enterpriseVar`: RCRM_ENTERPRISE when the caller already read it (readChannelFacts); otherwise it is read here. */
export async function resolveEnterprise(
  ctx: CallContext,
  directory: EnterpriseDirectory,
  enterpriseVar?: string,
): Promise<EnterpriseResolution> {
  let number = ctx.session.query.get('enterprise') ?? '';
  if (number === '') number = enterpriseVar ?? (await ctx.session.getVariable('RCRM_ENTERPRISE')) ?? '';
  number = number.trim();
  if (number === '') {
    ctx.log.warn('no enterprise: add ?enterprise=N to the AGI URL or set RCRM_ENTERPRISE');
    return { ok: false, reason: 'missing' };
  }
  if (!ENTERPRISE_NUMBER.test(number)) {
    ctx.log.warn('enterprise number is malformed', { enterprise: number.slice(0, 40) });
    return { ok: false, reason: 'invalid' };
  }
  try {
    const view = await directory.get(number);
    if (!view) {
      ctx.log.warn('unknown enterprise', { enterprise: number });
      return { ok: false, reason: 'unknown' };
    }
    if (!peerMayAct(view, ctx.session.remoteAddress)) {
      // Another tenant's PBX (or a stranger inside AGI_ALLOW) naming this enterprise: answer nothing about it.
      ctx.log.warn('FastAGI session refused: this PBX may not run calls for the enterprise', {
        enterprise: number,
        peer: ctx.session.remoteAddress,
      });
      ctx.onPeerRefused?.(number);
      return { ok: false, reason: 'peer_not_allowed' };
    }
    ctx.log = ctx.log.child({ enterprise: number });
    return { ok: true, view };
  } catch (err) {
    ctx.log.error('cannot load the enterprise', { enterprise: number, code: errorCode(err), err });
    return { ok: false, reason: 'error' };
  }
}

const allowLists = new WeakMap<readonly string[], AddressAllowList>();

/** True when the enterprise lists no PBX addresses, or the peer is inside one of them. */
export function peerMayAct(view: EnterpriseView, remoteAddress: string | undefined): boolean {
  const cidrs = view.enterprise.settings.pbxAddresses;
  if (cidrs.length === 0) return true;
  let list = allowLists.get(cidrs);
  if (!list) {
    list = new AddressAllowList(cidrs);
    allowLists.set(cidrs, list);
  }
  return list.allows(remoteAddress);
}
