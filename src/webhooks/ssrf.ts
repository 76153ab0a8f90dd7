/**
 * Tenant-supplied webhook URLs are an SSRF risk: only http(s), and only public addresses after
 * DNS resolution — no loopback, private (RFC 1918, unique-local), link-local (cloud metadata
 * 169.254.169.254 included), CGNAT, unspecified, multicast or reserved ranges, also not as
 * IPv4-mapped IPv6. The checked address is the one connected to (no second lookup a DNS
 * rebinding could answer differently). `allowPrivate` (operator setting) admits them, for tests
 * and on-premise receivers.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { badInput } from '../shared/index.js';

export interface CheckedTarget {
  url: URL;
  /** The address to connect to. */
  address: string;
  family: 4 | 6;
}

const blocked4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const blocked6: Array<[string, number]> = [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['64:ff9b::', 96], ['100::', 64], ['2002::', 16],
];
const list = new net.BlockList();
for (const [a, p] of blocked4) list.addSubnet(a, p, 'ipv4');
for (const [a, p] of blocked6) list.addSubnet(a, p, 'ipv6');

/** True when the address must not be reached from a tenant's URL. */
export function isForbiddenAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return list.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return list.check(mapped[1]!, 'ipv4');
  return list.check(address, 'ipv6');
}

/** Parses and checks a webhook URL (syntax, scheme, no credentials). Throws BAD_USER_INPUT. */
export function parseWebhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput('url: not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badInput(`url: only http and https are allowed (got ${url.protocol.replace(':', '')})`);
  if (url.username || url.password) throw badInput('url: credentials in the URL are not allowed');
  if (text.length > 2048) throw badInput('url: at most 2048 characters');
  return url;
}

/** Resolves the URL's host and refuses it unless every address is public (or private targets are allowed). */
export async function checkWebhookTarget(text: string, opts: { allowPrivate: boolean }): Promise<CheckedTarget> {
  const url = parseWebhookUrl(text);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = net.isIP(host) ? [{ address: host, family: net.isIP(host) }] : await lookup(host, { all: true, verbatim: true });
  } catch {
    throw badInput(`url: host ${host} does not resolve`);
  }
  if (addresses.length === 0) throw badInput(`url: host ${host} does not resolve`);
  if (!opts.allowPrivate) {
    const bad = addresses.find((a) => isForbiddenAddress(a.address));
    if (bad) throw badInput(`url: ${host} resolves to ${bad.address}, a loopback, private, link-local or reserved address (refused)`);
  }
  const first = addresses[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
