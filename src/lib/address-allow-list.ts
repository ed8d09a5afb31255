/**
 * Address allow-lists (CIDRs, IPv4 and IPv6) for who may connect: FastAGI peers (AGI_ALLOW), the PBXs allowed to
 * run one enterprise's calls, and the administrative HTTP endpoints (HTTP_ADMIN_ALLOW). Parsing is pure and
 * reports every bad entry; matching treats an IPv4-mapped IPv6 peer (`::ffff:10.0.0.5`, what a socket listening
 * on `::` reports) as the IPv4 address it is.
 */
import { BlockList, isIP } from 'node:net';

export const LOOPBACK_CIDRS: readonly string[] = Object.freeze(['127.0.0.0/8', '::1/128']);

export interface ParsedCidrs {
  /** Normalised `address/prefix` strings (a bare address gets /32 or /128). */
  readonly cidrs: readonly string[];
  readonly problems: readonly string[];
}

/** Parses `10.0.0.0/8, 2001:db8::/32, 192.0.2.7`; an empty text is an empty list. */
export function parseCidrList(text: string): ParsedCidrs {
  const cidrs: string[] = [];
  const problems: string[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [address = '', prefixText, extra] = entry.split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix > max) {
      problems.push(`${JSON.stringify(entry)} is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32)`);
      continue;
    }
    cidrs.push(`${address.toLowerCase()}/${prefix}`);
  }
  return { cidrs, problems };
}

/** `::ffff:192.0.2.1` → `192.0.2.1`; other addresses unchanged. */
export function unmapIpv4(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m?.[1] ?? address;
}

export class AddressAllowList {
  private readonly list = new BlockList();

  /** `cidrs` as produced by parseCidrList (already valid). An empty list allows nobody. */
  constructor(readonly cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address = '', prefix = ''] = cidr.split('/');
      this.list.addSubnet(address, Number(prefix), isIP(address) === 4 ? 'ipv4' : 'ipv6');
    }
  }

  static parse(text: string): AddressAllowList {
    const parsed = parseCidrList(text);
    if (parsed.problems.length > 0) throw new RangeError(parsed.problems.join('; '));
    return new AddressAllowList(parsed.cidrs);
  }

  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    const plain = unmapIpv4(address.replace(/%.*$/, ''));
    const family = isIP(plain);
    if (family === 0) return false;
    return this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}
