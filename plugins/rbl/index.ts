// IP blocklists and allowlists in DNS (DNSBL/DNSWL): refuse at connect, refuse every RCPT, or score.
//
// Every zone is asked at connect, all at once; each phase then waits only for the zones whose action belongs to
// it, and a refusal goes out as soon as one of them lists the client, so a slow list never holds up a listing
// found in another. A zone that cannot be asked is a temporary failure (never a pass) unless it says `on_error: skip`.
//
// Users send from home and mobile addresses that lists such as Spamhaus' PBL name on purpose: a client that logs in is
// not judged by them (RCPT and DATA checks skip it), and the connect-time refusal must not stop it before it can log
// in. So the submission listener asks no zone at all (its clients log in before MAIL), and on the implicit-TLS
// listener, where AUTH is optional, a `reject` zone's refusal waits for MAIL FROM and spares a client that logged in.
import { definePlugin, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type BlockZone, type RblConfig, type ZoneAction } from './config.ts';
import { CidrList, normalizeIp } from '../../core/net/cidr.ts';
import { reversedIp } from '../../core/net/dnsbl-name.ts';
import { isPrivate } from '../../core/net/special-ranges.ts';
import { defaultSymbol, lookupAllow, lookupBlock, type Listing, type ZoneResult } from './lookup.ts';
import { TXT_PLACEHOLDER } from './txt.ts';

interface ZoneCheck { zone: BlockZone; result: Promise<ZoneResult> }
interface Checks { ip: string; skip?: string; allowed?: Promise<Listing | undefined>; zones: ZoneCheck[] }
type Decision = { hit?: Listing; txt?: Promise<string>; failed?: ZoneResult[] };

const canAct = (z: BlockZone, action: ZoneAction): boolean =>
  z.action === action || Object.values(z.codes).some((c) => c.action === action);

/** Only a zone that can refuse, with a text that quotes it, has its TXT record asked for. */
const wantsTxt = (z: BlockZone): boolean =>
  z.text.includes(TXT_PLACEHOLDER) && (canAct(z, 'reject') || canAct(z, 'reject_rcpt'));

function fill(text: string, ip: string, l: Listing, txt: string): string {
  return text.replace(/\{(ip|zone|code|symbol|txt)\}/g, (_, k: string) => (k === 'ip' ? ip : k === 'txt' ? txt : String(l[k as keyof Listing])))
    .replace(/[^\x20-\x7e]/g, '?').trimEnd();
}

/**
 * One listing per symbol, the highest-scoring: a list answering 127.0.0.2 and 127.0.0.4 for one client, neither
 * mapped, is one piece of evidence under the zone's symbol, not twice its score.
 */
function strongestPerSymbol(listings: Listing[]): Listing[] {
  const best = new Map<string, Listing>();
  for (const l of listings) {
    const have = best.get(l.symbol);
    if (!have || l.score > have.score) best.set(l.symbol, l);
  }
  return [...best.values()];
}

class RblCheck {
  private readonly cfg: RblConfig;
  private readonly allowlist: CidrList;
  constructor(cfg: RblConfig) {
    this.cfg = cfg;
    this.allowlist = new CidrList(cfg.allowlist);
  }

  /** The lookups of this connection's client, started once per client address (XCLIENT may change it). */
  checks(ctx: HookContext): Checks {
    const ip = normalizeIp(ctx.session.remote.ip);
    const have = ctx.connectionState.rbl as Checks | undefined;
    if (have?.ip === ip) return have;
    const c = this.start(ctx, ip);
    ctx.connectionState.rbl = c;
    return c;
  }

  private start(ctx: HookContext, ip: string): Checks {
    const s = ctx.session;
    const skip = s.listener === 'submission' ? 'submission listener'
      : s.allowlisted ? 'access.allow_ips' : s.relayNetwork ? 'relay network' : this.allowlist.has(ip) ? 'allowlist'
        : this.cfg.skip_private && isPrivate(ip) ? 'private address' : undefined;
    const reversed = reversedIp(ip);
    if (skip || !reversed) {
      ctx.log.debug('blocklists skipped', { client: ip, reason: skip ?? 'not an IP address' });
      return { ip, skip: skip ?? 'not an IP address', zones: [] };
    }
    const dns = ctx.services.dns;
    const v6 = ip.includes(':');
    const allowed = this.cfg.allow_zones.length
      ? Promise.all(this.cfg.allow_zones.map((z) => lookupAllow(dns, z, reversed, ctx.log))).then((r) => r.find((x) => x))
      : undefined;
    const zones = this.cfg.zones.filter((z) => !v6 || z.ipv6).map((zone) => ({ zone, result: lookupBlock(dns, zone, reversed, ctx.log, wantsTxt(zone)) }));
    // Nobody may await a zone for a while (score zones wait for DATA): keep a rejection from going unhandled.
    for (const z of zones) z.result.catch(() => undefined);
    return { ip, allowed, zones };
  }

  /** Waits for the zones that can take `action`; resolves at the first listing with that action. */
  private decide(c: Checks, action: ZoneAction): Promise<Decision> {
    const relevant = c.zones.filter((z) => canAct(z.zone, action));
    return new Promise((resolve) => {
      let left = relevant.length;
      const failed: ZoneResult[] = [];
      if (!left) resolve({});
      for (const z of relevant) {
        void z.result.then((r) => {
          const hit = r.listings.find((l) => l.action === action);
          if (hit) resolve({ hit, txt: r.txt });
          if (r.error && z.zone.on_error === 'tempfail') failed.push(r);
          if (--left === 0) resolve({ failed });
        });
      }
    });
  }

  private unavailable(ctx: HookContext, failed: ZoneResult[] | undefined): Outcome | void {
    if (!failed?.length) return;
    ctx.log.warn('blocklist lookup failed', { zones: failed.map((f) => `${f.zone}: ${f.error?.code}`) });
    return outcome.tempfail('Blocklist lookup failed, try again later', { code: 451, enhanced: '4.4.3' });
  }

  async gate(ctx: HookContext, action: 'reject' | 'reject_rcpt'): Promise<Outcome | void> {
    const c = this.checks(ctx);
    if (c.skip || (action === 'reject_rcpt' && ctx.session.trusted)) return;
    // Connect-time refusals on the implicit-TLS listener are put off to MAIL FROM (deferredGate); the lookups run now.
    if (action === 'reject' && ctx.hook === 'connect' && ctx.session.listener === 'smtps') return;
    if (await c.allowed) return;
    const d = await this.decide(c, action);
    if (d.hit) {
      const zone = this.cfg.zones.find((z) => z.zone === d.hit!.zone)!;
      ctx.log.info('client listed', { client: c.ip, zone: d.hit.zone, code: d.hit.code, action });
      // The refusal's evidence: the core counts its symbol with the refusal (mailmoat_refusal_findings_total).
      ctx.addFinding(d.hit.symbol, d.hit.score, `${c.ip} listed at ${d.hit.zone} (${d.hit.code})`);
      return outcome.reject(fill(zone.text, c.ip, d.hit, (await d.txt) ?? ''), { code: action === 'reject' ? 554 : 550, enhanced: '5.7.1' });
    }
    return this.unavailable(ctx, d.failed);
  }

  /**
   * MAIL FROM on the implicit-TLS listener: the `reject` zones' refusal put off from connect (554 5.7.1, or 451 4.4.3
   * when such a zone failed), for a client that did not log in; as Postfix's smtpd_delay_reject with
   * permit_sasl_authenticated before reject_rbl_client.
   */
  async deferredGate(ctx: HookContext): Promise<Outcome | void> {
    if (ctx.session.listener !== 'smtps' || ctx.session.trusted) return;
    return this.gate(ctx, 'reject');
  }

  /** Records an allowlisting at MAIL FROM, so RCPT-time gates such as greylisting can see it. */
  async noteAllowed(ctx: HookContext): Promise<void> {
    const c = this.checks(ctx);
    if (c.skip || ctx.session.trusted || ctx.state.allowRecorded) return;
    const allowed = await c.allowed;
    if (!allowed) return;
    ctx.addFinding(allowed.symbol, allowed.score, `${c.ip} allowlisted at ${allowed.zone} (${allowed.code})`);
    ctx.state.allowRecorded = true;
  }

  async score(ctx: HookContext): Promise<Outcome | void> {
    const c = this.checks(ctx);
    if (c.skip || ctx.session.trusted) return;
    if (await c.allowed) { await this.noteAllowed(ctx); return; }
    const results = await Promise.all(c.zones.map((z) => z.result));
    const failed: ZoneResult[] = [];
    results.forEach((r, i) => {
      const zone = c.zones[i].zone;
      for (const l of strongestPerSymbol(r.listings.filter((x) => x.action === 'score'))) {
        ctx.addFinding(l.symbol, l.score, `${c.ip} listed at ${l.zone} (${l.code})`);
      }
      if (!r.error) return;
      if (zone.on_error === 'skip') ctx.addFinding(`${zone.symbol ?? defaultSymbol('RBL_', zone.zone)}_UNAVAILABLE`, 0, `${zone.zone}: ${r.error.code}`);
      else failed.push(r);
    });
    return this.unavailable(ctx, failed);
  }
}

export default definePlugin({
  name: 'rbl',
  description: 'IP blocklists and allowlists in DNS (DNSBL/DNSWL), IPv4 and IPv6',
  configSchema,
  dnsOutage: (cfg: RblConfig) => (cfg.zones.some((z) => z.on_error === 'tempfail') ? 'tempfail' : 'degraded'),
  symbols: {
    'RBL_<ZONE>': 'The client IP is listed in that blocklist (symbol and score per zone or per answer code)',
    'RBL_<ZONE>_UNAVAILABLE': 'The blocklist could not be asked and its zone says on_error: skip',
    'RBL_ALLOW_<ZONE>': 'The client IP is listed in that allowlist; blocklists were skipped',
  },
  // The zones name the symbols; an allowlisting is recorded at MAIL FROM.
  emits: (cfg: RblConfig) => ({
    symbols: cfg.zones.flatMap((z) => {
      const base = z.symbol ?? defaultSymbol('RBL_', z.zone);
      return [base, ...Object.values(z.codes).flatMap((c) => (c.symbol ? [c.symbol] : [])), ...(z.on_error === 'skip' ? [`${base}_UNAVAILABLE`] : [])];
    }),
    early: cfg.allow_zones.map((z) => z.symbol ?? defaultSymbol('RBL_ALLOW_', z.zone)),
  }),
  create(cfg: RblConfig) {
    const check = new RblCheck(cfg);
    return {
      hooks: {
        connect: (ctx) => check.gate(ctx, 'reject'),
        mailFrom: async (ctx) => (await check.deferredGate(ctx)) ?? check.noteAllowed(ctx),
        rcptTo: (ctx) => check.gate(ctx, 'reject_rcpt'),
        data: (ctx) => check.score(ctx),
      },
    };
  },
});
