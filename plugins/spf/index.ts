// SPF (RFC 7208) for the HELO and MAIL FROM identities: a finding per result, Received-SPF, optional refusal on fail.
//
// The result also feeds DMARC: the dmarc plugin reads it back from this plugin's finding detail (format in detail.ts),
// since plugins only see each other through ctx.findings.
import { CidrList, definePlugin, describeSymbols, outcome, symbolScore, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, policyProblems, spfSymbols, type SpfConfig } from './config.ts';
import { checkHost } from './lib/check-host.ts';
import type { SpfEvaluation, SpfOptions } from './lib/types.ts';
import { formatDetail } from './detail.ts';
import { receivedSpf } from './received-spf.ts';
import { SYMBOLS, guessSymbol, symbolFor, type Identity } from './scores.ts';

interface TransactionState { header?: string }

/** Keeps DNS-provided text safe for an SMTP reply line. */
function replyText(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 400);
}

class SpfCheck {
  private readonly cfg: SpfConfig;
  private readonly isLocalIp: (ip: string) => boolean;

  constructor(cfg: SpfConfig) {
    this.cfg = cfg;
    const localIps = new CidrList(cfg.local_ips);
    this.isLocalIp = (ip) => localIps.has(ip);
    // A broken local or best-guess policy is a config error, found at start rather than on the first message.
    const problems = policyProblems(cfg);
    if (problems.length) throw new Error(problems.map((x) => `${x.path}: ${x.message}`).join('; '));
  }

  private options(ctx: HookContext, identity: Identity): SpfOptions {
    return {
      resolver: ctx.services.dns,
      receiver: ctx.services.hostname,
      maxLookups: this.cfg.max_lookups,
      maxVoidLookups: this.cfg.max_void_lookups,
      localPolicy: this.cfg.local_policy,
      bestGuess: identity === 'mailfrom' ? this.cfg.best_guess : undefined,
    };
  }

  private skipped(ctx: HookContext): string | undefined {
    if (ctx.session.trusted) return ctx.session.user ? 'authenticated' : 'relay network';
    if (this.isLocalIp(ctx.session.remote.ip)) return 'local ip';
    return undefined;
  }

  /** The HELO identity's result, evaluated once per connection, HELO name and client address. */
  private heloResult(ctx: HookContext, helo: string): Promise<SpfEvaluation> {
    // Keyed by address too: behind a trusted proxy XCLIENT may name another client on the same connection.
    const cache = ctx.connectionState as { helo?: { name: string; ip: string; result: Promise<SpfEvaluation> } };
    const ip = ctx.session.remote.ip;
    if (cache.helo?.name !== helo || cache.helo.ip !== ip) {
      cache.helo = { name: helo, ip, result: checkHost({ ip, domain: helo, sender: `postmaster@${helo}`, helo }, this.options(ctx, 'helo')) };
    }
    return cache.helo.result;
  }

  private record(ctx: HookContext, identity: Identity, r: SpfEvaluation): void {
    const symbol = symbolFor(identity, r.result);
    // A pass the domain gives to (nearly) every address, `+all` above all, is still a pass for DMARC, but it vouches
    // for no client: it earns no negative score, or a spammer's own domain would lower its mail's score with it.
    const score = r.broad ? 0 : symbolScore(SYMBOLS, symbol, this.cfg.scores);
    ctx.addFinding(symbol, score, formatDetail(identity, ctx.session.remote.ip, r));
    if (r.guess) ctx.addFinding(guessSymbol(r.guess), symbolScore(SYMBOLS, guessSymbol(r.guess), this.cfg.scores), formatDetail(identity, ctx.session.remote.ip, r));
    ctx.log.info('spf result', { identity, result: r.result, domain: r.domain, mechanism: r.mechanism, broad: r.broad, problem: r.problem, guess: r.guess, lookups: r.lookups });
  }

  async mailFrom(ctx: HookContext): Promise<Outcome | void> {
    const why = this.skipped(ctx);
    if (why) { ctx.log.debug('spf skipped', { reason: why }); return; }
    const ip = ctx.session.remote.ip;
    const helo = ctx.session.helo ?? '';
    const from = ctx.mailFrom;
    const nullSender = !from?.address;
    const sender = nullSender ? `postmaster@${helo}` : from!.address;
    const domain = nullSender ? helo : from!.domain;
    // For a null sender the MAIL FROM identity is postmaster@<HELO name> (RFC 7208 2.4): the HELO check over again.
    // It is counted once, as the MAIL FROM result (SPF_*), which DMARC and Received-SPF read; no SPF_HELO_* beside it.
    const heloIsMailFrom = nullSender && this.cfg.check_mailfrom;
    const [heloR, mailR] = await Promise.all([
      this.cfg.check_helo && !heloIsMailFrom ? this.heloResult(ctx, helo) : undefined,
      this.cfg.check_mailfrom ? checkHost({ ip, domain, sender, helo }, this.options(ctx, 'mailfrom')) : undefined,
    ]);
    if (heloR) this.record(ctx, 'helo', heloR);
    if (mailR) {
      this.record(ctx, 'mailfrom', mailR);
      if (this.cfg.header) {
        (ctx.state as TransactionState).header = receivedSpf(mailR, { receiver: ctx.services.hostname, ip, helo: helo || undefined, envelopeFrom: from?.address ?? '', identity: 'mailfrom' });
      }
    }
    if (mailR?.result === 'fail' && this.cfg.reject_fail) {
      return outcome.reject(replyText(`SPF check failed: ${mailR.explanation ?? `${domain} does not authorise ${ip}`}`), { code: 550, enhanced: '5.7.23' });
    }
    const heloCheck = this.cfg.check_helo ? (heloIsMailFrom ? mailR : heloR) : undefined;
    if (heloCheck?.result === 'fail' && this.cfg.reject_helo_fail) {
      return outcome.reject(replyText(`SPF check of HELO name ${helo} failed: ${heloCheck.explanation ?? ''}`).trim(), { code: 550, enhanced: '5.7.23' });
    }
    if (mailR?.result === 'temperror' && this.cfg.on_temperror === 'tempfail') {
      return outcome.tempfail(replyText(`SPF check of ${domain} failed temporarily, try again later`), { code: 451, enhanced: '4.4.3' });
    }
  }

  data(ctx: HookContext): void {
    const header = (ctx.state as TransactionState).header;
    if (header) ctx.addHeader('Received-SPF', header);
  }
}

export default definePlugin({
  name: 'spf',
  description: 'SPF (RFC 7208) for HELO and MAIL FROM: findings, Received-SPF header, optional refusal on fail',
  configSchema,
  dnsOutage: (cfg: SpfConfig) => (cfg.on_temperror === 'tempfail' ? 'tempfail' : 'degraded'),
  symbols: describeSymbols(SYMBOLS),
  emits: spfSymbols,
  // check-config asks the same function the start does, so it says OK only for policies the start accepts.
  check: (cfg: SpfConfig) => policyProblems(cfg),
  create(cfg: SpfConfig) {
    const check = new SpfCheck(cfg);
    return {
      hooks: {
        mailFrom: (ctx) => check.mailFrom(ctx),
        data: (ctx) => check.data(ctx),
      },
    };
  },
});
