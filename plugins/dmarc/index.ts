// DKIM, ARC and DMARC verification with mailauth over the shared resolver, one Authentication-Results header,
// and optional enforcement of the From domain's DMARC policy.
//
// SPF is not evaluated here: the spf plugin's result is read back from its finding, so both agree and the
// domain's SPF is looked up once.
import { dkimVerify, arc, dmarc } from 'mailauth';
import { getDomain } from 'tldts';
import { definePlugin, describeSymbols, outcome, symbolScore, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type DmarcConfig } from './config.ts';
import { mailauthResolver } from './resolver.ts';
import { spfFromFindings, type SpfFact } from './spf-finding.ts';
import { SYMBOLS } from './symbols.ts';
import { enforcedAction, failSymbol, normalisedPolicy } from './policy.ts';
import { authenticationResults, authservIdOf, spfClause } from './auth-results.ts';
import { alignedDomain } from './alignment.ts';

type DkimVerifyResult = Awaited<ReturnType<typeof dkimVerify>>;
type ArcResult = Awaited<ReturnType<typeof arc>>;

interface DmarcResponse {
  status: { result: string; header?: { d?: string } };
  domain: string;
  policy?: string;
  pct?: number | string;
  info?: string;
  alignment?: { spf?: { result?: string | false; strict?: boolean }; dkim?: { result?: string | false; strict?: boolean } };
}

interface Judged {
  res: DmarcResponse;
  /** The From address's domain as written, for replies and findings. */
  from: string;
  /** The same domain as mailauth checked it (lower case, punycode). */
  fromDomain: string;
  spfAligned?: string;
  dkimAligned?: string;
  result: string;
  clause: string;
}

const POLICY_RANK = { none: 0, quarantine: 1, reject: 2 } as const;

const DKIM_RESULTS = ['pass', 'fail', 'neutral', 'policy', 'temperror', 'permerror', 'none'];

type DkimRow = NonNullable<DkimVerifyResult['results']>[number];

/**
 * `d=… s=…` of one signature. mailauth reports an unsigned message as one result `none` without a signing domain,
 * and a signature too broken to name its domain the same way: those say so instead of printing `d=undefined`.
 */
function signatureDetail(r: DkimRow): string {
  const comment = r.status.comment ? ` (${r.status.comment})` : '';
  if (!r.signingDomain) return r.status.result === 'none' ? 'no signature' : `signature without a domain${comment}`;
  return `d=${r.signingDomain} s=${r.selector || '-'}${comment}`;
}

class DmarcCheck {
  private readonly cfg: DmarcConfig;
  private readonly trustedSealers: Set<string>;

  constructor(cfg: DmarcConfig) {
    this.cfg = cfg;
    this.trustedSealers = new Set(cfg.arc_trusted_sealers.map((d) => d.toLowerCase().replace(/\.$/, '')));
  }

  private find(ctx: HookContext, symbol: string, detail: string): void {
    ctx.addFinding(symbol, symbolScore(SYMBOLS, symbol, this.cfg.scores), detail);
  }

  /** One finding per DKIM result present, naming the signing domains and selectors. */
  private recordDkim(ctx: HookContext, dkim: DkimVerifyResult): void {
    const results = dkim.results ?? [];
    if (results.length === 0) { this.find(ctx, 'DKIM_NONE', 'no signature'); return; }
    const byResult = new Map<string, string[]>();
    for (const r of results) {
      const result = DKIM_RESULTS.includes(r.status.result) ? r.status.result : 'permerror';
      const list = byResult.get(result) ?? [];
      list.push(signatureDetail(r));
      byResult.set(result, list);
    }
    for (const [result, list] of byResult) this.find(ctx, `DKIM_${result.toUpperCase()}`, list.join(', '));
  }

  private recordArc(ctx: HookContext, a: ArcResult): void {
    const result = a.status?.result ?? 'none';
    const symbol = result === 'pass' ? 'ARC_PASS' : result === 'none' ? 'ARC_NONE' : 'ARC_FAIL';
    this.find(ctx, symbol, `${result} i=${a.i || 0}${a.status?.comment ? ` (${a.status.comment})` : ''}`);
  }

  /** True (and recorded) when a trusted sealer's passing ARC chain vouches for the message, so no policy applies. */
  private overriddenByArc(ctx: HookContext, a: ArcResult | undefined): boolean {
    const sealer = this.arcSealer(a);
    if (!sealer || !this.trustedSealers.has(sealer)) return false;
    this.find(ctx, 'DMARC_ARC_OVERRIDE', `sealed by ${sealer}`);
    return true;
  }

  /** The signing domain of the newest ARC seal, when the chain passes. */
  private arcSealer(a: ArcResult | undefined): string | undefined {
    if (a?.status?.result !== 'pass') return undefined;
    const d = (a as { signature?: { signingDomain?: string } }).signature?.signingDomain;
    return d?.toLowerCase();
  }

  async data(ctx: HookContext): Promise<Outcome | void> {
    if (this.cfg.skip_trusted && ctx.session.trusted) return;
    const msg = ctx.message;
    if (!msg) return;
    const resolver = mailauthResolver(ctx.services.dns);
    const clauses: string[] = [];
    const spf: SpfFact | undefined = spfFromFindings(ctx.findings);
    clauses.push(spfClause(spf, ctx.mailFrom?.address ?? ''));

    const dkim = await dkimVerify(msg.stream(), { resolver, sender: ctx.mailFrom?.address || undefined, minBitLength: this.cfg.min_key_bits } as never);
    if (this.cfg.dkim) {
      this.recordDkim(ctx, dkim);
      const rows = (dkim.results ?? []).map((r) => r.info).filter(Boolean);
      clauses.push(...(rows.length ? rows : ['dkim=none']));
    }

    let arcResult: ArcResult | undefined;
    if (this.cfg.arc) {
      arcResult = await arc((dkim as { arc?: unknown }).arc as never, { resolver, minBitLength: this.cfg.min_key_bits } as never);
      this.recordArc(ctx, arcResult);
    }

    let refusal: Outcome | undefined;
    if (this.cfg.dmarc) {
      const r = await this.evaluateDmarc(ctx, dkim, spf, arcResult, resolver);
      clauses.push(r.clause);
      refusal = r.outcome;
    }
    if (arcResult) clauses.push(arcResult.info ?? `arc=${arcResult.status?.result ?? 'none'}`);

    // A forged header claiming our authserv-id goes even when we write none: the mailbox behind us would trust it.
    const authservId = this.cfg.authserv_id ?? ctx.services.hostname;
    if (this.cfg.strip_forged && this.hasForged(ctx, authservId)) ctx.removeHeader('Authentication-Results');
    if (this.cfg.header) ctx.addHeader('Authentication-Results', authenticationResults(authservId, clauses));
    return refusal;
  }

  /** What, if anything, failed only for lack of DNS and could have aligned with the From domain, said for a reply. */
  private temporaryFailure(dkim: DkimVerifyResult, spf: SpfFact | undefined, fromDomain: string): string | undefined {
    const key = this.cfg.dkim ? (dkim.results ?? []).find((r) => r.status.result === 'temperror' && r.status.aligned) : undefined;
    if (key) return `the DNS lookup of the DKIM key ${key.selector || '-'}._domainkey.${key.signingDomain} failed`;
    const org = (d: string) => getDomain(d, { allowPrivateDomains: true }) ?? d.toLowerCase();
    if (spf?.result === 'temperror' && org(spf.domain) === org(fromDomain)) return `the DNS lookup of the SPF record of ${spf.domain} failed`;
    return undefined;
  }

  private hasForged(ctx: HookContext, authservId: string): boolean {
    const id = authservId.toLowerCase();
    return (ctx.message?.headers.all('Authentication-Results') ?? [])
      .some((v) => authservIdOf(v) === id);
  }

  /** The DMARC result of one author domain, with alignment as its record asks for (see alignment.ts). */
  private async judge(address: string, spfDomains: string[], dkimDomains: Array<{ domain: string }>, arcResult: ArcResult | undefined, resolver: ReturnType<typeof mailauthResolver>): Promise<Judged | undefined> {
    const res = await dmarc({ headerFrom: [address], spfDomains, dkimDomains, arcResult, resolver } as never) as unknown as false | DmarcResponse;
    if (!res) return undefined;
    const from = address.split('@').pop() ?? '';
    const fromDomain = res.status.header?.d ?? from;
    const spfAligned = alignedDomain(fromDomain, spfDomains, res.alignment?.spf?.strict, res.alignment?.spf?.result);
    const dkimAligned = alignedDomain(fromDomain, dkimDomains.map((d) => d.domain), res.alignment?.dkim?.strict, res.alignment?.dkim?.result);
    let result = res.status.result;
    let clause = res.info ?? `dmarc=${result}`;
    if (result === 'pass' && !spfAligned && !dkimAligned) {
      result = 'fail';
      clause = clause.replace(/^dmarc=pass\b/, 'dmarc=fail');
    }
    return { res, from, fromDomain, spfAligned, dkimAligned, result, clause };
  }

  private async evaluateDmarc(ctx: HookContext, dkim: DkimVerifyResult, spf: SpfFact | undefined, arcResult: ArcResult | undefined, resolver: ReturnType<typeof mailauthResolver>): Promise<{ clause: string; outcome?: Outcome }> {
    const froms = dkim.headerFrom ?? [];
    if (froms.length === 0) {
      this.find(ctx, 'DMARC_PERMERROR', 'no From address');
      return { clause: 'dmarc=permerror (From header must name exactly one address)' };
    }
    // A signature with an l= short of the body vouches for none of what follows it: text anyone may have added.
    const counts = (r: { status: { result: string; underSized?: number | boolean } }) =>
      r.status.result === 'pass' && (this.cfg.partial_dkim === 'accept' || !r.status.underSized);
    const dkimDomains = this.cfg.dkim
      ? (dkim.results ?? []).filter(counts).map((r) => ({ id: r.id, domain: r.signingDomain, aligned: r.status.aligned, underSized: r.status.underSized }))
      : [];
    const spfDomains = spf?.result === 'pass' ? [spf.domain] : [];
    // RFC 7489 6.6.1: with several From addresses every author domain is checked and the strictest failing policy
    // applies, or a second address would be enough to escape a p=reject.
    const byDomain = new Map(froms.map((a) => [(a.split('@').pop() ?? '').toLowerCase(), a]));
    const judged: Judged[] = [];
    for (const address of byDomain.values()) {
      const j = await this.judge(address, spfDomains, dkimDomains, arcResult, resolver);
      if (j) judged.push(j);
    }
    const failing = judged.filter((j) => j.result === 'fail').sort((a, b) => POLICY_RANK[normalisedPolicy(b.res.policy)] - POLICY_RANK[normalisedPolicy(a.res.policy)]);
    const decisive = failing[0] ?? (judged.length === 1 && byDomain.size === 1 ? judged[0] : undefined);
    if (!decisive) {
      this.find(ctx, 'DMARC_PERMERROR', byDomain.size > 1 ? `${froms.length} From addresses` : 'From header unusable');
      return { clause: byDomain.size > 1 ? 'dmarc=permerror (From header must name exactly one address)' : 'dmarc=permerror' };
    }
    const { res, from, fromDomain, spfAligned, dkimAligned, result, clause } = decisive;
    const detail = `${result} from=${from} policy=${res.policy ?? 'none'} spf=${spf?.result ?? 'none'}${spfAligned ? ` spf_aligned=${spfAligned}` : ''} dkim_aligned=${dkimAligned ?? 'no'}`;
    ctx.log.info('dmarc result', { result, from, policy: res.policy, spf: spf?.result });
    if (result === 'pass') { this.find(ctx, 'DMARC_PASS', detail); return { clause }; }
    if (result === 'none') { this.find(ctx, 'DMARC_NONE', detail); return { clause }; }
    if (result !== 'fail') { this.find(ctx, 'DMARC_TEMPERROR', detail); return { clause }; }

    // A failure that rests on a lookup that failed (the key of an aligned signature, the SPF record of an aligned
    // envelope domain) may be only a DNS hiccup on the sender's side: it is a temperror (RFC 7489 6.6.2), scored as
    // one, and never enforced; with enforce on, the client is told to retry rather than having its mail bounced or held.
    const unsure = this.temporaryFailure(dkim, spf, fromDomain);
    if (unsure) {
      this.find(ctx, 'DMARC_TEMPERROR', `${detail} (${unsure})`);
      const tempClause = clause.replace(/^dmarc=fail\b/, 'dmarc=temperror');
      if (!this.cfg.enforce || this.overriddenByArc(ctx, arcResult)) return { clause: tempClause };
      if (enforcedAction(res.policy, res.pct, this.cfg.apply_pct) === 'none') return { clause: tempClause };
      return { clause: tempClause, outcome: outcome.tempfail(`DMARC policy of ${from} could not be checked: ${unsure}, try again later`, { code: 451, enhanced: '4.4.3' }) };
    }

    this.find(ctx, failSymbol(res.policy), detail);
    if (!this.cfg.enforce || this.overriddenByArc(ctx, arcResult)) return { clause };
    const action = enforcedAction(res.policy, res.pct, this.cfg.apply_pct);
    if (action === 'reject') {
      return { clause, outcome: outcome.reject(`Message refused: it fails the DMARC policy of ${from}`, { code: 550, enhanced: '5.7.1' }) };
    }
    if (action === 'quarantine') return { clause, outcome: outcome.quarantine(`DMARC policy of ${from} is quarantine`) };
    return { clause };
  }
}

export default definePlugin({
  name: 'dmarc',
  description: 'DKIM, ARC and DMARC verification, one Authentication-Results header, optional DMARC policy enforcement',
  configSchema,
  symbols: describeSymbols(SYMBOLS),
  create(cfg: DmarcConfig) {
    const check = new DmarcCheck(cfg);
    return { hooks: { data: (ctx) => check.data(ctx) } };
  },
});
