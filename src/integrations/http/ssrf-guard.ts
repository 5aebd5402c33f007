import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/** Addresses a step may never reach unless allowed: private, loopback, link-local (cloud metadata), … */
const BLOCKED: [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(
      `${host} resolves to ${address}, a private, loopback or link-local address that steps may not reach; ` +
        'allow it with OSPREY_HTTP_ALLOW_NETWORKS if it is yours',
    );
  }
}

/**
 * Decides which addresses outbound HTTP may reach. The check runs on the resolved address at connect
 * time (the lookup below), so DNS answers that change between check and use cannot slip through.
 */
export class SsrfGuard {
  readonly #blocked = new BlockList();
  readonly #allowed = new BlockList();

  /** `allow`: CIDRs ("127.0.0.0/8", "10.1.2.0/24", "::1/128") that are reachable despite the rules. */
  constructor(allow: readonly string[] = []) {
    for (const [net, prefix, family] of BLOCKED) this.#blocked.addSubnet(net, prefix, family);
    for (const cidr of allow) {
      const [net, bits] = cidr.split('/');
      const family = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
      this.#allowed.addSubnet(net!, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
    }
  }

  isAllowed(address: string): boolean {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    // IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address it is.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return this.isAllowed(mapped[1]!);
    if (this.#allowed.check(address, family)) return true;
    return !this.#blocked.check(address, family);
  }

  /** Throws unless a literal IP host is allowed (literals skip DNS, so the lookup never sees them). */
  checkLiteral(host: string): void {
    const bare = host.replace(/^\[|\]$/g, '');
    if (isIP(bare) && !this.isAllowed(bare)) throw new BlockedAddressError(host, bare);
  }

  /** A dns.lookup replacement for the HTTP agent: resolves, then refuses blocked addresses. */
  readonly lookup = (
    hostname: string,
    options: object,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, []);
      const bad = addresses.find((a) => !this.isAllowed(a.address));
      if (bad) return callback(new BlockedAddressError(hostname, bad.address), []);
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  };
}
