// One record of an aggregate report (RFC 7489 Appendix C, RecordType) and the policy it was judged under, as the
// plugin keeps them in the state store: a record is one compact JSON array, which is also what groups messages.

export type Disposition = 'none' | 'quarantine' | 'reject';

/** PolicyOverrideType of RFC 7489 Appendix C. */
export type OverrideType = 'forwarded' | 'sampled_out' | 'trusted_forwarder' | 'mailing_list' | 'local_policy' | 'other';

export interface OverrideReason { type: OverrideType; comment?: string }

export interface DkimAuth {
  domain: string;
  selector?: string;
  /** DKIMResultType: none, pass, fail, policy, neutral, temperror, permerror. */
  result: string;
  human?: string;
}

export interface SpfAuth {
  domain: string;
  scope: 'mfrom' | 'helo';
  /** SPFResultType: none, neutral, pass, fail, softfail, temperror, permerror. */
  result: string;
}

/** The record the policy domain published (PolicyPublishedType), with its rua= as written. */
export interface PolicyPublished {
  domain: string;
  adkim: 'r' | 's';
  aspf: 'r' | 's';
  p: Disposition;
  sp: Disposition;
  pct: number;
  fo: string;
  rua: string;
}

/** A group of messages alike in everything a report says of them. */
export interface ReportRecord {
  sourceIp: string;
  headerFrom: string;
  /** The envelope sender's domain; '' for the null sender. */
  envelopeFrom: string;
  disposition: Disposition;
  /** Whether DKIM, and SPF, passed for a domain aligned with the From domain (policy_evaluated). */
  dkim: 'pass' | 'fail';
  spf: 'pass' | 'fail';
  reasons: OverrideReason[];
  dkimAuth: DkimAuth[];
  spfAuth: SpfAuth;
}

const DISPOSITIONS = new Set(['none', 'quarantine', 'reject']);
const OVERRIDES = new Set(['forwarded', 'sampled_out', 'trusted_forwarder', 'mailing_list', 'local_policy', 'other']);
const str = (v: unknown): v is string => typeof v === 'string';

/** The record as the text the store keeps: equal records give equal text. */
export function encodeRecord(r: ReportRecord): string {
  return JSON.stringify([
    r.sourceIp, r.headerFrom, r.envelopeFrom, r.disposition, r.dkim === 'pass' ? 1 : 0, r.spf === 'pass' ? 1 : 0,
    r.reasons.map((x) => (x.comment ? [x.type, x.comment] : [x.type])),
    r.dkimAuth.map((d) => [d.domain, d.selector ?? '', d.result, d.human ?? '']),
    [r.spfAuth.domain, r.spfAuth.scope, r.spfAuth.result],
  ]);
}

/** The record a stored text holds, or undefined for text that is not one (the store is shared; nothing is trusted). */
export function decodeRecord(text: string): ReportRecord | undefined {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return undefined; }
  if (!Array.isArray(v) || v.length !== 9) return undefined;
  const [ip, hf, ef, disp, dkim, spf, reasons, dkimAuth, spfAuth] = v as unknown[];
  if (!str(ip) || !str(hf) || !str(ef) || !str(disp) || !DISPOSITIONS.has(disp)) return undefined;
  if (!Array.isArray(reasons) || !Array.isArray(dkimAuth) || !Array.isArray(spfAuth) || spfAuth.length !== 3) return undefined;
  const okReasons = reasons.every((x) => Array.isArray(x) && str(x[0]) && OVERRIDES.has(x[0]) && (x[1] === undefined || str(x[1])));
  const okDkim = dkimAuth.every((d) => Array.isArray(d) && d.length === 4 && d.every(str));
  if (!okReasons || !okDkim || !spfAuth.every(str) || (spfAuth[1] !== 'mfrom' && spfAuth[1] !== 'helo')) return undefined;
  return {
    sourceIp: ip, headerFrom: hf, envelopeFrom: ef, disposition: disp as Disposition,
    dkim: dkim === 1 ? 'pass' : 'fail', spf: spf === 1 ? 'pass' : 'fail',
    reasons: (reasons as string[][]).map(([type, comment]) => ({ type: type as OverrideType, ...(comment ? { comment } : {}) })),
    dkimAuth: (dkimAuth as string[][]).map(([domain, selector, result, human]) => ({ domain, result, ...(selector ? { selector } : {}), ...(human ? { human } : {}) })),
    spfAuth: { domain: spfAuth[0] as string, scope: spfAuth[1] as 'mfrom' | 'helo', result: spfAuth[2] as string },
  };
}

/** The published policy a stored text holds, or undefined. */
export function decodePolicy(text: string | null): PolicyPublished | undefined {
  if (!text) return undefined;
  let v: Partial<PolicyPublished>;
  try { v = JSON.parse(text); } catch { return undefined; }
  const mode = (m: unknown) => m === 'r' || m === 's';
  if (!v || !str(v.domain) || !mode(v.adkim) || !mode(v.aspf) || !DISPOSITIONS.has(v.p as string) || !DISPOSITIONS.has(v.sp as string)) return undefined;
  if (typeof v.pct !== 'number' || !str(v.fo) || !str(v.rua)) return undefined;
  return v as PolicyPublished;
}
