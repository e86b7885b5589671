// Looks one client IP up in one DNSBL/DNSWL zone and maps the answers to listings.
import { DnsError, isListingAnswer, type DnsResolver, type Logger } from '../../core/index.ts';
import type { AllowZone, BlockZone, ZoneAction } from './config.ts';
import { lookupTxt } from './txt.ts';

export interface Listing { zone: string; code: string; symbol: string; score: number; action: ZoneAction }

/**
 * The outcome of one zone: listings (empty when not listed), or the temporary error that kept us from knowing; `txt`,
 * the list's TXT text for a refusal ('' when none), only when the zone's text asks for it.
 */
export interface ZoneResult { zone: string; listings: Listing[]; error?: DnsError; txt?: Promise<string> }

/** `RBL_` + the first label of the zone in upper case (`zen.example.org` → `RBL_ZEN`). */
export function defaultSymbol(prefix: string, zone: string): string {
  return prefix + zone.split('.')[0].toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The list's answers, or [] when the IP is not listed; refusals and foreign answers are logged and ignored. */
async function answers(dns: DnsResolver, name: string, log: Logger): Promise<string[]> {
  let addrs: string[];
  try {
    addrs = await dns.resolve4(name);
  } catch (e) {
    if (e instanceof DnsError && (e.notFound || e.code === 'FORMERR')) return [];
    throw e instanceof DnsError ? e : new DnsError('OTHER', name, 'A', (e as Error).message);
  }
  const good = addrs.filter(isListingAnswer);
  if (good.length !== addrs.length) log.warn('ignoring unexpected blocklist answer', { name, answers: addrs });
  return good;
}

/**
 * One blocklist zone. With `withTxt` the TXT record of the same name is asked at the same time as the A record, so a
 * refusal that quotes it waits for no second round trip; its failure only leaves it empty.
 */
export async function lookupBlock(dns: DnsResolver, zone: BlockZone, reversed: string, log: Logger, withTxt = false): Promise<ZoneResult> {
  const name = `${reversed}.${zone.zone}`;
  const txt = withTxt ? lookupTxt(dns, name) : undefined;
  try {
    const codes = await answers(dns, name, log);
    const base = zone.symbol ?? defaultSymbol('RBL_', zone.zone);
    const listings = codes.map((code) => {
      const c = zone.codes[code];
      return { zone: zone.zone, code, symbol: c?.symbol ?? base, score: c?.score ?? zone.score, action: c?.action ?? zone.action };
    });
    return { zone: zone.zone, listings, txt };
  } catch (e) {
    return { zone: zone.zone, listings: [], error: e as DnsError };
  }
}

/** A DNSWL lookup; a failure only means "not allowlisted", so errors come back as not listed (and logged). */
export async function lookupAllow(dns: DnsResolver, zone: AllowZone, reversed: string, log: Logger): Promise<Listing | undefined> {
  try {
    const codes = await answers(dns, `${reversed}.${zone.zone}`, log);
    const hit = codes.find((c) => zone.codes.length === 0 || zone.codes.includes(c));
    if (!hit) return undefined;
    return { zone: zone.zone, code: hit, symbol: zone.symbol ?? defaultSymbol('RBL_ALLOW_', zone.zone), score: zone.score, action: 'score' };
  } catch (e) {
    log.info('allowlist zone unavailable; blocklists still apply', { zone: zone.zone, error: (e as Error).message });
    return undefined;
  }
}
