// URL blocklists: the hosts of the links in a message, reduced to registered domains or IPs, looked up in DBL/SURBL-style lists.
//
// Three actions per list, as MailEnable offers: score the message, refuse it, or defang it (each listed link is
// replaced by "link removed" and the message goes on). A list that cannot be asked is a temporary failure unless
// it says `on_error: skip`: an unanswered lookup is never taken as "not listed".
import { definePlugin, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type UrlblConfig } from './config.ts';
import { distinctHosts, urlHost } from './hosts.ts';
import { lookupHosts, zoneSymbol, type UrlListing } from './lookup.ts';
import { defangMessage } from './defang.ts';
import { TXT_PLACEHOLDER } from '../rbl/txt.ts';

function fill(text: string, l: UrlListing, txt: string): string {
  return text.replace(/\{(host|zone|code|txt)\}/g, (_, k: 'host' | 'zone' | 'code' | 'txt') => (k === 'txt' ? txt : l[k]))
    .replace(/[^\x20-\x7e]/g, '?').trimEnd();
}

async function check(cfg: UrlblConfig, skip: Set<string>, ctx: HookContext): Promise<Outcome | void> {
  if (!ctx.message || !cfg.zones.length) return;
  const parsed = await ctx.message.parsed();
  const hosts = await distinctHosts(parsed.urls, skip, cfg.max_hosts);
  if (!hosts.length) return;
  const { listings, failed } = await lookupHosts(ctx.services.dns, cfg.zones, hosts, ctx.log, cfg.text.includes(TXT_PLACEHOLDER));
  const refuse = listings.find((l) => l.action === 'reject');
  if (refuse) {
    ctx.log.info('message links to a listed host', { host: refuse.host, zone: refuse.zone, code: refuse.code });
    return outcome.reject(fill(cfg.text, refuse, (await refuse.txt) ?? ''), { code: 554, enhanced: '5.7.1' });
  }
  const temp = failed.filter((f) => f.zone.on_error === 'tempfail');
  if (temp.length) {
    ctx.log.warn('URL list lookup failed', { zones: temp.slice(0, 5).map((f) => `${f.host}.${f.zone.zone}: ${f.error.code}`) });
    return outcome.tempfail('URL blocklist lookup failed, try again later', { code: 451, enhanced: '4.4.3' });
  }
  for (const f of failed) ctx.addFinding(`${zoneSymbol(f.zone)}_UNAVAILABLE`, 0, `${f.zone.zone}: ${f.error.code}`);
  // One finding per symbol, however many links share it: ten links to one spammer are one piece of evidence.
  const bySymbol = new Map<string, UrlListing[]>();
  for (const l of listings) bySymbol.set(l.symbol, [...(bySymbol.get(l.symbol) ?? []), l]);
  for (const [symbol, ls] of bySymbol) {
    ctx.addFinding(symbol, Math.max(...ls.map((l) => l.score)), [...new Set(ls.map((l) => `${l.host} (${l.zone} ${l.code})`))].slice(0, 5).join(', '));
  }
  const defang = new Set(listings.filter((l) => l.action === 'defang').map((l) => l.host));
  if (defang.size) {
    const raw = await ctx.message.raw();
    const out = defangMessage(raw, (url) => { const h = urlHost(url); return !!h && defang.has(h.key); }, cfg.defang_text);
    if (out) {
      await ctx.rewriteMessage(out);
      ctx.log.info('listed links removed', { hosts: [...defang] });
    }
  }
}

export default definePlugin({
  name: 'urlbl',
  description: 'URL host blocklists (registered domains and IPs in DBL/SURBL-style DNS lists): score, refuse or defang',
  configSchema,
  dnsOutage: (cfg: UrlblConfig) => (cfg.zones.some((z) => z.on_error === 'tempfail') ? 'tempfail' : 'degraded'),
  symbols: {
    'URIBL_<ZONE>': 'A link in the message points to a host listed in that zone (symbol and score per zone or answer code)',
    'URIBL_<ZONE>_UNAVAILABLE': 'The list could not be asked and its zone says on_error: skip (score 0)',
  },
  // The zones name the symbols.
  emits: (cfg: UrlblConfig) => ({
    symbols: cfg.zones.flatMap((z) => [
      zoneSymbol(z), ...Object.values(z.codes).flatMap((c) => (c.symbol ? [c.symbol] : [])), ...(z.on_error === 'skip' ? [`${zoneSymbol(z)}_UNAVAILABLE`] : []),
    ]),
  }),
  create(cfg: UrlblConfig) {
    const skip = new Set(cfg.skip_domains.map((d) => d.toLowerCase()));
    return { hooks: { data: (ctx) => check(cfg, skip, ctx) } };
  },
});
