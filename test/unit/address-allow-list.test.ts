/** CIDR allow-lists: parsing (every bad entry reported), IPv4, IPv6 and IPv4-mapped peers. */
import { expect } from 'chai';
import { AddressAllowList, LOOPBACK_CIDRS, parseCidrList } from '../../src/lib/address-allow-list.js';
import { RefusalLogThrottle } from '../../src/access/refusal-log-throttle.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/lib/errors.js';

describe('address allow-list', () => {
  it('parses IPv4 and IPv6 CIDRs and bare addresses', () => {
    expect(parseCidrList(' 10.0.0.0/8, 2001:DB8::/32,192.0.2.7 ,')).to.deep.equal({
      cidrs: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/32'],
      problems: [],
    });
  });

  it('reports every bad entry', () => {
    const parsed = parseCidrList('10.0.0.0/33, example.com, 1.2.3.4/8/9, ::1/129, 10.0.0.1/x');
    expect(parsed.cidrs).to.deep.equal([]);
    expect(parsed.problems).to.have.length(5);
  });

  it('matches IPv4, IPv6 and IPv4-mapped IPv6 peers', () => {
    const list = AddressAllowList.parse('10.1.0.0/16, 2001:db8::/32');
    expect(list.allows('10.1.2.3')).to.equal(true);
    expect(list.allows('::ffff:10.1.2.3')).to.equal(true);
    expect(list.allows('10.2.0.1')).to.equal(false);
    expect(list.allows('2001:db8::5')).to.equal(true);
    expect(list.allows('2001:db9::5')).to.equal(false);
    expect(list.allows(undefined)).to.equal(false);
    expect(list.allows('garbage')).to.equal(false);
  });

  it('defaults to loopback only, in config', () => {
    const config = loadConfig({});
    expect(config.agiAllow).to.deep.equal(LOOPBACK_CIDRS);
    expect(config.httpAdminAllow).to.deep.equal(LOOPBACK_CIDRS);
    const loopback = new AddressAllowList(config.agiAllow);
    expect(loopback.allows('127.0.0.1')).to.equal(true);
    expect(loopback.allows('::1')).to.equal(true);
    expect(loopback.allows('192.0.2.1')).to.equal(false);
    expect(loadConfig({ AGI_ALLOW: '192.0.2.0/24, ::1' }).agiAllow).to.deep.equal(['192.0.2.0/24', '::1/128']);
  });

  it('refuses a bad AGI_ALLOW or HTTP_ADMIN_ALLOW at boot', () => {
    expect(() => loadConfig({ AGI_ALLOW: '10.0.0.0/40', HTTP_ADMIN_ALLOW: ' , ' })).to.throw(ConfigError)
      .with.property('problems').that.has.length(2);
  });
});

describe('refusal log throttle', () => {
  it('logs the first refusal of a peer per interval, and stays bounded', () => {
    let now = 0;
    const throttle = new RefusalLogThrottle(60_000, 2, () => now);
    expect(throttle.shouldLog('192.0.2.1')).to.equal(true);
    expect(throttle.shouldLog('192.0.2.1')).to.equal(false);
    expect(throttle.shouldLog('192.0.2.2')).to.equal(true);
    now = 60_000;
    expect(throttle.shouldLog('192.0.2.1')).to.equal(true);
    expect(throttle.shouldLog('192.0.2.3')).to.equal(true); // the map was full: cleared, nothing lost but a log line
  });
});
