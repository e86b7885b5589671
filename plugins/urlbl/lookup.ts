// Looks URL hosts up in the configured lists, every (host, zone) pair at once, and maps answers to listings.
import { DnsError, isListingAnswer, type DnsResolver, type Logger } from '../../core/index.ts';
import type { UrlAction, UrlZone } from './config.ts';
import type { UrlHost } from './hosts.ts';
import { reversedIp } from '../../core/net/dnsbl-name.ts';
import { lookupTxt } from '../rbl/txt.ts';

/** `txt`: the list's TXT text for the host ('' when none), only when the refusal text asks for it. */
export interface UrlListing { host: string; zone: string; code: string; symbol: string; score: number; action: UrlAction; txt?: Promise<string> }
export interface UrlLookups { listings: UrlListing[]; failed: Array<{ zone: UrlZone; host: string; error: DnsError }> }

export function zoneSymbol(zone: UrlZone): string {
  return zone.symbol ?? 'URIBL_' + zone.zone.split('.')[0].toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

async function ask(dns: DnsResolver, name: string, log: Logger): Promise<string[]> {
  try {
    const addrs = await dns.resolve4(name);
    const good = addrs.filter(isListingAnswer);
    if (good.length !== addrs.length) log.warn('ignoring unexpected URL list answer', { name, answers: addrs });
    return good;
  } catch (e) {
    if (e instanceof DnsError && (e.notFound || e.code === 'FORMERR')) return [];
    throw e instanceof DnsError ? e : new DnsError('OTHER', name, 'A', (e as Error).message);
  }
}

/**
 * The `codes` keys an answer stands for: itself, or on a bitmask list every configured code whose bits the answer's
 * last octet holds (falling back to the answer itself, so an unmapped bit still lists under the zone's symbol).
 */
function codesOf(zone: UrlZone, answer: string): string[] {
  if (!zone.bitmask || zone.codes[answer]) return [answer];
  const bits = Number(answer.split('.')[3]);
  const prefix = answer.slice(0, answer.lastIndexOf('.') + 1);
  const matched = Object.keys(zone.codes).filter((code) => {
    const own = Number(code.split('.')[3]);
    return code.startsWith(prefix) && own > 0 && (bits & own) === own;
  });
  return matched.length ? matched : [answer];
}

/** A zone that can refuse, when the refusal text quotes the TXT record: only then is it asked for. */
function canRefuse(zone: UrlZone): boolean {
  return zone.action === 'reject' || Object.values(zone.codes).some((c) => c.action === 'reject');
}

/**
 * Every (host, zone) pair at once. With `withTxt` the TXT record of each name a refusing zone is asked about goes out
 * with its A record, so quoting it costs no second round trip; its failure only leaves it empty.
 */
export async function lookupHosts(dns: DnsResolver, zones: UrlZone[], hosts: UrlHost[], log: Logger, withTxt = false): Promise<UrlLookups> {
  const out: UrlLookups = { listings: [], failed: [] };
  const jobs = hosts.flatMap((h) => zones.filter((z) => z.type === h.kind).map(async (zone) => {
    const name = `${h.kind === 'ip' ? reversedIp(h.key)! : h.key}.${zone.zone}`;
    const txt = withTxt && canRefuse(zone) ? lookupTxt(dns, name) : undefined;
    try {
      for (const answer of await ask(dns, name, log)) {
        for (const code of codesOf(zone, answer)) {
          const c = zone.codes[code];
          out.listings.push({ host: h.key, zone: zone.zone, code, symbol: c?.symbol ?? zoneSymbol(zone), score: c?.score ?? zone.score, action: c?.action ?? zone.action, txt });
        }
      }
    } catch (e) {
      out.failed.push({ zone, host: h.key, error: e as DnsError });
    }
  }));
  await Promise.all(jobs);
  return out;
}
