// Reduces URLs to what the lists know: the registered domain (public-suffix list, via tldts) or the literal IP.
import net from 'node:net';
import { getDomain } from 'tldts';
import { isUnroutable } from '../../core/net/special-ranges.ts';
import { normalizeIp } from '../../core/net/cidr.ts';
import { pacer } from '../../core/text/next-turn.ts';

export interface UrlHost { kind: 'domain' | 'ip'; key: string }

/**
 * Numeric character references as HTML writes them (`spam&#46;example`, `&#x2e;`): a browser follows the decoded
 * link, while the URL parser would stop the host at the `#`. Links taken from raw HTML (defanging) carry them.
 */
function decodeCharRefs(url: string): string {
  return url.replace(/&#(?:x([0-9a-f]{1,6})|(\d{1,7}));?/gi, (ref, hex: string | undefined, dec: string | undefined) => {
    const code = hex ? parseInt(hex, 16) : Number(dec);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ref;
  });
}

/** The list key of a URL: its registered domain, or its IP; undefined for hosts no list can know. */
export function urlHost(url: string): UrlHost | undefined {
  let host: string;
  try { host = new URL(decodeCharRefs(url)).hostname.toLowerCase(); } catch { return undefined; }
  host = host.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (net.isIP(host)) {
    // `[::ffff:1.2.3.4]` is the IPv4 address lists know it as.
    const ip = normalizeIp(host);
    return isUnroutable(ip) ? undefined : { kind: 'ip', key: ip };
  }
  const domain = getDomain(host, { allowPrivateDomains: false });
  return domain ? { kind: 'domain', key: domain } : undefined;
}

/**
 * The part of an http(s) URL that decides its host: up to the first `/`, `?` or `\` after the scheme (the URL
 * parser ends the authority there too, and no character reference holds one), so links to one site share it.
 */
function authorityOf(url: string): string | undefined {
  return /^https?:\/\/[^/?\\]*/i.exec(url)?.[0];
}

/**
 * The distinct hosts of the URLs, skipping the configured domains; when there are more than `max`, the `max` most
 * linked, ties taken from both ends of the message in turn (first, last, second, second last…). Taking the first
 * `max` let a spammer hide the one listed link behind `max` harmless ones; now the padding must come before and
 * after it, and each padding host be linked more often than the spammer's own. Each site is parsed once, and a
 * message with 100,000 links is counted in slices between turns of the event loop.
 */
export async function distinctHosts(urls: string[], skip: Set<string>, max: number): Promise<UrlHost[]> {
  const seen = new Map<string, { host: UrlHost; links: number }>();
  const bySite = new Map<string, UrlHost | undefined>();
  const pause = pacer();
  for (const u of urls) {
    const turn = pause();
    if (turn) await turn;
    const site = authorityOf(u);
    let h: UrlHost | undefined;
    if (site === undefined) h = urlHost(u);
    else if (bySite.has(site)) h = bySite.get(site);
    else bySite.set(site, h = urlHost(site));
    if (!h || skip.has(h.key)) continue;
    const id = `${h.kind} ${h.key}`;
    const known = seen.get(id);
    if (known) known.links++; else seen.set(id, { host: h, links: 1 });
  }
  const all = [...seen.values()];
  if (all.length <= max) return all.map((e) => e.host);
  const turn = (i: number) => Math.min(2 * i, 2 * (all.length - 1 - i) + 1);
  const order = all.map((e, i) => ({ e, turn: turn(i) }));
  order.sort((a, b) => b.e.links - a.e.links || a.turn - b.turn);
  return order.slice(0, max).map((o) => o.e.host);
}
