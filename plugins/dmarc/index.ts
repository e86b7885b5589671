// DKIM, ARC and DMARC verification with mailauth over the shared resolver, one Authentication-Results header,
// and optional enforcement of the From domain's DMARC policy.
//
// SPF is not evaluated here: the spf plugin's result is read back from its finding, so both agree and the
// domain's SPF is looked up once.
import { domainToASCII } from 'node:url';
import { dkimVerify, arc, dmarc } from 'mailauth';
import { definePlugin, describeSymbols, outcome, symbolScore, type HookContext, type Outcome } from '../../core/index.ts';
import { configSchema, type DmarcConfig } from './config.ts';
import { mailauthResolver } from './resolver.ts';
import { withMailauthConsole } from './mailauth-console.ts';
import { spfFromFindings, type SpfFact } from './spf-finding.ts';
import { SYMBOLS } from './symbols.ts';
import { enforcedAction, failSymbol, normalisedPolicy } from './policy.ts';
import { authenticationResults, authservIdOf, comparableAuthservId, dmarcClause, spfClause } from './auth-results.ts';
import { recordUse } from './policy-record.ts';
import { aligns, alignedDomain } from './alignment.ts';
import { keepReportFacts, type Enforcement, type JudgedDomain } from './report-facts.ts';
import { Reporting } from './reporting.ts';

type DkimVerifyResult = Awaited<ReturnType<typeof dkimVerify>>;
type ArcResult = Awaited<ReturnType<typeof arc>>;

interface DmarcResponse {
  status: { result: string; comment?: string; header?: { from?: string; d?: string } };
  domain: string;
  policy?: string;
  /** The record's text, when one was found. */
  rr?: string;
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
  /** The policy acted on: the record's, `none` for one read as p=none (RFC 7489 6.6.3), undefined when none was read. */
  policy?: string;
  result: string;
  clause: string;
  /** What the detail adds about the record: an invalid policy read as p=none, or ignored. */
  note?: string;
  /** For a failure: the failed lookup of an identifier that could have aligned with this domain, said for a reply. */
  unsure?: string;
}

const POLICY_RANK = { none: 0, quarantine: 1, reject: 2 } as const;

/** What evaluateDmarc found, for the aggregate reports. */
interface ForReport { judged: JudgedDomain[]; enforcement: Enforcement }

/** What the aggregate reports need of the judged domains. */
function forReport(judged: readonly Judged[], enforcement: Enforcement): ForReport {
  return {
    judged: judged.map((j) => ({ fromDomain: j.fromDomain, record: j.res.rr, policy: j.policy, result: j.result, dkimAligned: j.dkimAligned, spfAligned: j.spfAligned, unsure: j.unsure })),
    enforcement,
  };
}

const DKIM_RESULTS = ['pass', 'fail', 'neutral', 'policy', 'temperror', 'permerror', 'none'];

type DkimRow = NonNullable<DkimVerifyResult['results']>[number];

/**
 * mailauth reports a body hash that does not match as `neutral`; RFC 6376 6.3 makes it a failed signature
 * (PERMFAIL), as OpenDKIM and Rspamd report it, like a signature broken by an edited header.
 */
function bodyHashMismatchAsFail(r: DkimRow): void {
  if (r.status.result !== 'neutral' || r.status.comment !== 'body hash did not verify') return;
  r.status.result = 'fail';
  if (r.info) r.info = r.info.replace(/^dkim=neutral\b/, 'dkim=fail');
}

/**
 * mailauth reports a key record with an empty `p=` as `neutral (invalid public key)`; RFC 6376 3.6.1 makes it a revoked
 * key, which 6.1.2 says to treat as a permanent failure: `permerror (key revoked)`, so the admin reads what happened.
 */
function revokedKeyAsPermerror(r: DkimRow): void {
  const record = (r as { rr?: string }).rr;
  if (r.status.result !== 'neutral' || r.status.comment !== 'invalid public key' || !record || !/(?:^|;)p=(?:;|$)/.test(record)) return;
  r.status.result = 'permerror';
  r.status.comment = 'key revoked';
  if (r.info) r.info = r.info.replace(/^dkim=neutral \(invalid public key\)/, 'dkim=permerror (key revoked)');
}

/** Bytes of the body a passing signature leaves unsigned (its `l=` is shorter than the body), or 0. */
function unsignedBytes(r: DkimRow): number {
  return r.status.result === 'pass' ? Number(r.status.underSized) || 0 : 0;
}

/** A From domain as DMARC compares it: lower case, punycode, without the root's trailing dot. */
function asciiDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.$/, '');
  return domainToASCII(d) || d;
}

/**
 * `d=… s=…` of one signature. mailauth reports an unsigned message as one result `none` without a signing domain,
 * and a signature too broken to name its domain the same way: those say so instead of printing `d=undefined`.
 */
function signatureDetail(r: DkimRow): string {
  const comment = r.status.comment ? ` (${r.status.comment})` : '';
  if (!r.signingDomain) return r.status.result === 'none' ? 'no signature' : `signature without a domain${comment}`;
  const unsigned = unsignedBytes(r);
  const partial = unsigned ? ` (l= leaves ${unsigned} bytes unsigned)` : '';
  return `d=${r.signingDomain} s=${r.selector || '-'}${comment}${partial}`;
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

  /**
   * One finding per DKIM result present, naming the signing domains and selectors. A pass whose `l=` leaves part of
   * the body unsigned is DKIM_PASS_PARTIAL (score 0): what follows its `l=` may be anyone's, so it vouches for nothing.
   * A failed signature beside one that fully verifies is DKIM_FAIL_OTHER_PASS, not DKIM_FAIL: that is how every
   * mailing list that tags the subject and signs its copy delivers, and whether the author's domain still vouches
   * for the message is DMARC's question, scored by DMARC_FAIL_* already.
   */
  private recordDkim(ctx: HookContext, dkim: DkimVerifyResult): void {
    const results = dkim.results ?? [];
    if (results.length === 0) { this.find(ctx, 'DKIM_NONE', 'no signature'); return; }
    const onePasses = results.some((r) => r.status.result === 'pass' && !unsignedBytes(r));
    const byResult = new Map<string, string[]>();
    for (const r of results) {
      const known = DKIM_RESULTS.includes(r.status.result) ? r.status.result : 'permerror';
      const result = unsignedBytes(r) ? 'pass_partial' : known === 'fail' && onePasses ? 'fail_other_pass' : known;
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

  /** The newest sealer of a passing ARC chain, when it is one of `arc_trusted_sealers`. */
  private trustedArcSealer(a: ArcResult | undefined): string | undefined {
    const sealer = this.arcSealer(a);
    return sealer && this.trustedSealers.has(sealer) ? sealer : undefined;
  }

  /** The signing domain of the newest ARC seal, when the chain passes. */
  private arcSealer(a: ArcResult | undefined): string | undefined {
    if (a?.status?.result !== 'pass') return undefined;
    const d = (a as { signature?: { signingDomain?: string } }).signature?.signingDomain;
    return d?.toLowerCase();
  }

  async data(ctx: HookContext): Promise<Outcome | void> {
    const msg = ctx.message;
    if (!msg) return;
    // A forged header claiming our authserv-id goes whoever sent it (trusted, relay network or AUTH user alike) and
    // even when we write none: the mailbox behind us would trust it. Only the checks are skipped for trusted clients.
    const authservId = this.cfg.authserv_id ?? ctx.services.hostname;
    if (this.cfg.strip_forged && this.hasForged(ctx, authservId)) ctx.removeHeader('Authentication-Results');
    if (this.cfg.skip_trusted && ctx.session.trusted) return;
    const resolver = mailauthResolver(ctx.services.dns);
    const clauses: string[] = [];
    const spf: SpfFact | undefined = spfFromFindings(ctx.findings);
    clauses.push(spfClause(spf, ctx.mailFrom?.address ?? ''));

    const dkim = await withMailauthConsole(ctx.log, () =>
      dkimVerify(msg.stream(), { resolver, sender: ctx.mailFrom?.address || undefined, minBitLength: this.cfg.min_key_bits } as never));
    for (const r of dkim.results ?? []) {
      bodyHashMismatchAsFail(r);
      revokedKeyAsPermerror(r);
    }
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
      if (r.report && this.cfg.reporting.enabled) await this.keepForReports(ctx, r.report, dkim, spf);
    }
    if (arcResult) clauses.push(arcResult.info ?? `arc=${arcResult.status?.result ?? 'none'}`);

    if (this.cfg.header) ctx.addHeader('Authentication-Results', authenticationResults(authservId, clauses));
    return refusal;
  }

  /** Keeps what the aggregate reports need of this message; a failure costs the message its record, never its delivery. */
  private async keepForReports(ctx: HookContext, report: ForReport, dkim: DkimVerifyResult, spf: SpfFact | undefined): Promise<void> {
    try {
      await keepReportFacts(ctx, this.cfg.reporting, report.judged, dkim.results ?? [], spf, report.enforcement);
    } catch (e) {
      ctx.log.warn('dmarc reporting: message not recorded', { error: (e as Error).message });
    }
  }

  /**
   * What, if anything, failed only for lack of DNS and could have aligned with `j`'s From domain under the alignment
   * its record asks for, said for a reply. Under adkim=s a key of a subdomain could never align, so its lookup
   * failing changes nothing.
   */
  private temporaryFailure(dkim: DkimVerifyResult, spf: SpfFact | undefined, j: Omit<Judged, 'unsure'>): string | undefined {
    const strictDkim = j.res.alignment?.dkim?.strict;
    const key = this.cfg.dkim
      ? (dkim.results ?? []).find((r) => r.status.result === 'temperror' && !!r.signingDomain && aligns(r.signingDomain, j.fromDomain, strictDkim))
      : undefined;
    if (key) return `the DNS lookup of the DKIM key ${key.selector || '-'}._domainkey.${key.signingDomain} failed`;
    if (spf?.result === 'temperror' && aligns(spf.domain, j.fromDomain, j.res.alignment?.spf?.strict)) return `the DNS lookup of the SPF record of ${spf.domain} failed`;
    return undefined;
  }

  private hasForged(ctx: HookContext, authservId: string): boolean {
    const id = comparableAuthservId(authservId);
    return (ctx.message?.headers.all('Authentication-Results') ?? [])
      .some((v) => authservIdOf(v) === id);
  }

  /** The DMARC result of one author domain, with alignment as its record asks for (see alignment.ts). */
  private async judge(address: string, dkim: DkimVerifyResult, spf: SpfFact | undefined, spfDomains: string[], dkimDomains: Array<{ domain: string }>, arcResult: ArcResult | undefined, resolver: ReturnType<typeof mailauthResolver>): Promise<Judged | undefined> {
    const res = await dmarc({ headerFrom: [address], spfDomains, dkimDomains, arcResult, resolver } as never) as unknown as false | DmarcResponse;
    if (!res) return undefined;
    const from = address.split('@').pop() ?? '';
    const fromDomain = res.status.header?.d ?? asciiDomain(from);
    // RFC 7489 6.6.3: a record whose p= or sp= is no policy counts as p=none when it asks for reports, else not at all.
    const use = typeof res.rr === 'string' ? recordUse(res.rr) : undefined;
    if (use?.use === 'ignored') {
      const note = `${use.problem} and no valid rua=: not evaluated`;
      return { res, from, fromDomain, result: 'none', clause: dmarcClause('none', note, fromDomain), note };
    }
    const spfAligned = alignedDomain(fromDomain, spfDomains, res.alignment?.spf?.strict, res.alignment?.spf?.result);
    const dkimAligned = alignedDomain(fromDomain, dkimDomains.map((d) => d.domain), res.alignment?.dkim?.strict, res.alignment?.dkim?.result);
    let result = res.status.result;
    if (result === 'pass' && !spfAligned && !dkimAligned) result = 'fail';
    const arcSaid = arcResult?.status?.result ? ` arc=${arcResult.status.result}` : '';
    const note = use?.use === 'as-none' ? `${use.problem} read as p=none` : undefined;
    const comment = note ? `p=NONE${arcSaid}, ${note}` : res.status.comment ?? '';
    const policy = note ? 'none' : res.policy;
    const clause = dmarcClause(result, comment, fromDomain);
    const judged = { res, from, fromDomain, policy, spfAligned, dkimAligned, result, clause, note };
    return result === 'fail' ? { ...judged, unsure: this.temporaryFailure(dkim, spf, judged) } : judged;
  }

  private async evaluateDmarc(ctx: HookContext, dkim: DkimVerifyResult, spf: SpfFact | undefined, arcResult: ArcResult | undefined, resolver: ReturnType<typeof mailauthResolver>): Promise<{ clause: string; outcome?: Outcome; report?: ForReport }> {
    const froms = dkim.headerFrom ?? [];
    if (froms.length === 0) {
      this.find(ctx, 'DMARC_PERMERROR', 'no From address');
      return { clause: 'dmarc=permerror (no From address)' };
    }
    // A signature with an l= short of the body vouches for none of what follows it: text anyone may have added.
    const counts = (r: { status: { result: string; underSized?: number | boolean } }) =>
      r.status.result === 'pass' && (this.cfg.partial_dkim === 'accept' || !r.status.underSized);
    const dkimDomains = this.cfg.dkim
      ? (dkim.results ?? []).filter(counts).map((r) => ({ id: r.id, domain: r.signingDomain, underSized: r.status.underSized }))
      : [];
    const spfDomains = spf?.result === 'pass' ? [spf.domain] : [];
    // RFC 7489 6.6.1: with several From addresses every author domain is checked and the strictest failing policy
    // applies, or a second address would be enough to escape a p=reject.
    const byDomain = new Map(froms.map((a) => [asciiDomain(a.split('@').pop() ?? ''), a]));
    const judged: Judged[] = [];
    for (const address of byDomain.values()) {
      const j = await this.judge(address, dkim, spf, spfDomains, dkimDomains, arcResult, resolver);
      if (j) judged.push(j);
    }
    // The strictest policy decides; of two failures under equal policies, one with no doubt about it goes first, so
    // neither the order of the addresses nor a failed lookup for another domain softens a certain failure.
    const rank = (j: Judged) => POLICY_RANK[normalisedPolicy(j.policy)] * 2 + (j.unsure ? 0 : 1);
    const failing = judged.filter((j) => j.result === 'fail').sort((a, b) => rank(b) - rank(a));
    const decisive = failing[0] ?? (judged.length === 1 && byDomain.size === 1 ? judged[0] : undefined);
    if (!decisive) {
      const why = byDomain.size > 1 ? `From header names ${byDomain.size} domains, none of which fails DMARC` : 'From header unusable';
      this.find(ctx, 'DMARC_PERMERROR', why);
      return { clause: `dmarc=permerror (${why})` };
    }
    const { res, from, policy, spfAligned, dkimAligned, result, clause, unsure, note } = decisive;
    const report = (e: Omit<Enforcement, 'decisive'> = {}) => forReport(judged, { decisive: decisive.fromDomain, ...e });
    // Without a record read (a DNS failure) the policy is not known; `none` would claim the domain only monitors.
    const policyShown = policy ?? (result === 'temperror' ? 'unknown' : 'none');
    const detail = `${result} from=${from} policy=${policyShown} spf=${spf?.result ?? 'none'}${spfAligned ? ` spf_aligned=${spfAligned}` : ''} dkim_aligned=${dkimAligned ?? 'no'}${note ? ` (${note})` : ''}`;
    ctx.log.info('dmarc result', { result, from_domain: from, policy: policyShown, spf: spf?.result });
    if (result === 'pass') { this.find(ctx, 'DMARC_PASS', detail); return { clause, report: report() }; }
    if (result === 'none') { this.find(ctx, 'DMARC_NONE', detail); return { clause, report: report() }; }
    if (result !== 'fail') { this.find(ctx, 'DMARC_TEMPERROR', detail); return { clause, report: report() }; }

    // A trusted sealer vouches for a message its list rewrote: the failure is neither scored nor enforced (as
    // Rspamd and OpenDMARC treat an ARC override), whatever enforce says.
    const sealer = this.trustedArcSealer(arcResult);
    if (sealer) {
      this.find(ctx, 'DMARC_ARC_OVERRIDE', `${detail}${unsure ? ` (${unsure})` : ''} sealed by ${sealer}`);
      return { clause, report: report({ sealer }) };
    }

    // A failure that rests on a lookup that failed (the key of a signature, the SPF record of an envelope domain,
    // that could have aligned) may be only a DNS hiccup on the sender's side: it is a temperror (RFC 7489 6.6.2),
    // scored as one, and never enforced; with enforce on, the client is told to retry rather than having its mail
    // bounced or held.
    if (unsure) {
      this.find(ctx, 'DMARC_TEMPERROR', `${detail} (${unsure})`);
      const tempClause = clause.replace(/^dmarc=fail\b/, 'dmarc=temperror');
      if (!this.cfg.enforce || enforcedAction(policy, res.pct, this.cfg.apply_pct) === 'none') return { clause: tempClause, report: report() };
      return { clause: tempClause, outcome: outcome.tempfail(`DMARC policy of ${from} could not be checked: ${unsure}, try again later`, { code: 451, enhanced: '4.4.3' }) };
    }

    this.find(ctx, failSymbol(policy), detail);
    if (!this.cfg.enforce) return { clause, report: report() };
    const action = enforcedAction(policy, res.pct, this.cfg.apply_pct);
    const enforced = report({ enforcedAs: action });
    if (action === 'reject') {
      return { clause, report: enforced, outcome: outcome.reject(`Message refused: it fails the DMARC policy of ${from}`, { code: 550, enhanced: '5.7.1' }) };
    }
    if (action === 'quarantine') return { clause, report: enforced, outcome: outcome.quarantine(`DMARC policy of ${from} is quarantine`) };
    return { clause, report: enforced };
  }
}

export default definePlugin({
  name: 'dmarc',
  description: 'DKIM, ARC and DMARC verification, one Authentication-Results header, optional DMARC policy enforcement',
  configSchema,
  // A policy that cannot be read is a temperror: scored, never enforced.
  dnsOutage: () => 'degraded',
  symbols: describeSymbols(SYMBOLS),
  create(cfg: DmarcConfig, setup) {
    const check = new DmarcCheck(cfg);
    // Unit tests create the plugin with its config alone: no store, no reports.
    const reporting = cfg.reporting.enabled && cfg.dmarc && setup ? new Reporting(cfg.reporting, cfg.enforce, setup) : undefined;
    if (!reporting) return { hooks: { data: (ctx) => check.data(ctx) } };
    return {
      hooks: { data: (ctx) => check.data(ctx), afterVerdict: (ctx) => reporting.afterVerdict(ctx) },
      close: () => reporting.close(),
    };
  },
});
