// Reduces URLs to what the lists know: the registered domain (public-suffix list, via tldts) or the literal IP.
import net from 'node:net';
import { getDomain } from 'tldts';

export interface UrlHost { kind: 'domain' | 'ip'; key: string }

/** The list key of a URL: its registered domain, or its IP; undefined for hosts no list can know. */
export function urlHost(url: string): UrlHost | undefined {
  let host: string;
  try { host = new URL(url).hostname.toLowerCase(); } catch { return undefined; }
  host = host.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (net.isIP(host)) return { kind: 'ip', key: host };
  const domain = getDomain(host, { allowPrivateDomains: false });
  return domain ? { kind: 'domain', key: domain } : undefined;
}

/** The distinct hosts of the URLs, at most `max`, skipping the configured domains. */
export function distinctHosts(urls: string[], skip: Set<string>, max: number): UrlHost[] {
  const seen = new Map<string, UrlHost>();
  for (const u of urls) {
    const h = urlHost(u);
    if (!h || skip.has(h.key) || seen.has(`${h.kind} ${h.key}`)) continue;
    seen.set(`${h.kind} ${h.key}`, h);
    if (seen.size >= max) break;
  }
  return [...seen.values()];
}

/** The DNSBL label sequence of an IP: reversed octets, or reversed nibbles for IPv6. */
export function reversedIp(ip: string): string {
  if (net.isIPv4(ip)) return ip.split('.').reverse().join('.');
  const halves = ip.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.');
}
