import { BlockList, isIP } from 'node:net';

/**
 * Rules for the URLs customers give for status callbacks (a message's `statusCallback`, a
 * tenant's webhook). The gateway POSTs to them from inside the operator's network, so unless the
 * operator allows it (PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS), a callback may not reach loopback,
 * private, link-local or other non-public addresses: checked here for literal addresses when the
 * URL is given, and again for every address a name resolves to when a delivery connects.
 */

export const MAX_CALLBACK_URL_LENGTH = 2048;

const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata endpoints
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** True for an address a callback may reach without PIGEON_CALLBACK_ALLOW_PRIVATE_NETWORKS. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // An IPv4 address written as IPv6 (::ffff:10.0.0.1) reaches the IPv4 host.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]!);
    return !NON_PUBLIC.check(address, 'ipv6');
  }
  return !NON_PUBLIC.check(address, 'ipv4');
}

/**
 * Checks a callback URL: http(s), a host, no credentials or fragment, at most 2,048 characters,
 * and not a literal non-public address or `localhost` unless private networks are allowed.
 * Returns the reason it is refused, or undefined when it is fine.
 */
export function callbackUrlProblem(
  raw: string,
  options: { allowPrivateNetworks: boolean },
): string | undefined {
  if (raw.length > MAX_CALLBACK_URL_LENGTH) return `longer than ${MAX_CALLBACK_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https URL';
  if (url.hostname === '') return 'has no host';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.hash !== '') return 'must not have a fragment';
  if (options.allowPrivateNetworks) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return 'must not point at localhost';
  if (isIP(host) !== 0 && !isPublicAddress(host)) return 'must not point at a private or reserved address';
  return undefined;
}

/** The `host[:port]` a delivery goes to, the unit of the per-destination concurrency limit. */
export function callbackHost(url: string | null): string {
  if (url === null) return '';
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return '';
  }
}
