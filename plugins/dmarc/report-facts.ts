// What a message adds to the aggregate reports: read at DATA from the DMARC evaluation, kept with the transaction, and
// completed in afterVerdict with what the gateway did to the message (report-disposition.ts).
import net from 'node:net';
import { normalizeIp, type DnsResolver, type HookContext } from '../../core/index.ts';
import { organisational } from './alignment.ts';
import { normalisedPolicy, type PolicyAction } from './policy.ts';
import { recordTag } from './report-uri.ts';
import type { ReportingConfig } from './report-config.ts';
import type { DkimAuth, Disposition, OverrideReason, PolicyPublished, ReportRecord, SpfAuth } from './report-record.ts';
import type { SpfFact } from './spf-finding.ts';

/** What the evaluation found for one From domain, as index.ts judged it. */
export interface JudgedDomain {
  /** The From domain as DMARC compares it (lower case, A-labels). */
  fromDomain: string;
  /** The record's text, when one was read. */
  record?: string;
  /** The policy acted on (p= or sp=, `none` for an invalid one read as p=none). */
  policy?: string;
  result: string;
  dkimAligned?: string;
  spfAligned?: string;
  /** The failed lookup a failure rests on (a temperror), when there is one. */
  unsure?: string;
}

/** What the plugin did about the failure it decided on. */
export interface Enforcement {
  /** The From domain whose failure decided (the strictest policy). */
  decisive?: string;
  /** With `enforce`: the action applied after pct= sampling. */
  enforcedAs?: PolicyAction;
  /** A trusted ARC sealer that overrode the failure. */
  sealer?: string;
}

/** One record waiting for the verdict. */
export interface PendingRecord {
  policy: PolicyPublished;
  record: Omit<ReportRecord, 'disposition' | 'reasons'>;
  failed: boolean;
  /** What the domain asks for a failing message. */
  requested: Disposition;
  enforcedAs?: Disposition;
  /** Why the domain's policy was not applied whatever the verdict (an ARC override, a failed lookup). */
  override?: OverrideReason;
}

export interface DkimRowLike {
  signingDomain?: string;
  selector?: string;
  status: { result: string; comment?: string };
}

const STATE_KEY = 'dmarcReport';
/** DKIM results a record lists: a message with dozens of signatures must not make a record of any size. */
const MAX_DKIM = 8;
const DKIM_RESULTS = new Set(['none', 'pass', 'fail', 'policy', 'neutral', 'temperror', 'permerror']);
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)+$/;
const SPF_RESULTS = new Set(['none', 'neutral', 'pass', 'fail', 'softfail', 'temperror', 'permerror']);

/** Printable ASCII of at most `max` characters, for a value a sender chose (a DKIM comment). */
function printable(text: string, max = 100): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

/**
 * An address as the report's IPAddress type writes it: IPv4 dotted, IPv6 as eight groups (the RFC's pattern has no
 * `::`), an IPv4-mapped IPv6 address as IPv4.
 */
export function reportIp(raw: string): string {
  const ip = normalizeIp(raw);
  if (!net.isIPv6(ip)) return ip;
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':');
}

/**
 * Whether the message is itself a DMARC report, which gets no report of its own (so two reporting receivers never
 * report on each other's reports): an aggregate report's Subject form (RFC 7489 7.2.1.1) on a message that carries a
 * file, or a failure report (RFC 6591, multipart/report) from the null sender.
 */
export function isReportMessage(ctx: HookContext): boolean {
  const headers = ctx.message?.headers;
  if (!headers) return false;
  const type = (headers.first('Content-Type') ?? '').trim().toLowerCase();
  const subject = headers.first('Subject') ?? '';
  if (/^\s*Report\s+Domain:\s*\S+\s+Submitter:\s*\S+\s+Report-ID:/i.test(subject) && /^(multipart\/|application\/(x-)?(gzip|zip))/.test(type)) return true;
  return ctx.mailFrom?.address === '' && type.startsWith('multipart/report');
}

/** The record's tags as a PolicyPublished; an invalid p= (read as p=none) is written as the none it was read as. */
export function publishedPolicy(domain: string, record: string): PolicyPublished {
  const tag = (name: string) => recordTag(record, name);
  const asPolicy = (v: string | undefined): Disposition | undefined => {
    const p = (v ?? '').toLowerCase();
    return p === 'none' || p === 'quarantine' || p === 'reject' ? p : undefined;
  };
  const p = asPolicy(tag('p')) ?? 'none';
  const pct = Number.parseInt(tag('pct') ?? '', 10);
  return {
    domain,
    adkim: tag('adkim')?.toLowerCase() === 's' ? 's' : 'r',
    aspf: tag('aspf')?.toLowerCase() === 's' ? 's' : 'r',
    p, sp: asPolicy(tag('sp')) ?? p,
    pct: Number.isFinite(pct) ? Math.min(100, Math.max(0, pct)) : 100,
    fo: printable(tag('fo') ?? '0', 20),
    rua: tag('rua') ?? '',
  };
}

/**
 * The domain whose record was used: the From domain when it publishes one, else its organisational domain (RFC 7489
 * 6.6.3). mailauth does not say which it used; the lookup it just made is in the resolver's cache.
 */
async function policyDomain(fromDomain: string, dns: DnsResolver): Promise<string> {
  const org = organisational(fromDomain);
  if (org === fromDomain) return fromDomain;
  try {
    // mailauth takes a name's record only when it has exactly one, as RFC 7489 6.6.3 says.
    const own = (await dns.resolveTxt(`_dmarc.${fromDomain}`)).filter((t) => /^v=DMARC1\b/i.test(t.trim()));
    if (own.length === 1) return fromDomain;
  } catch { /* no record of its own, or no answer now: the organisational domain's */ }
  return org;
}

function dkimAuth(rows: readonly DkimRowLike[]): DkimAuth[] {
  return rows.filter((r) => !!r.signingDomain).slice(0, MAX_DKIM).map((r) => ({
    domain: printable(r.signingDomain!.toLowerCase(), 253),
    ...(r.selector ? { selector: printable(r.selector, 63) } : {}),
    result: DKIM_RESULTS.has(r.status.result) ? r.status.result : 'permerror',
    ...(r.status.comment ? { human: printable(r.status.comment) } : {}),
  }));
}

function spfAuth(ctx: HookContext, spf: SpfFact | undefined): SpfAuth {
  const envelope = ctx.mailFrom?.domain ?? '';
  const fallback = envelope || (ctx.session.helo ?? '').toLowerCase();
  if (!spf) return { domain: printable(fallback, 253), scope: envelope ? 'mfrom' : 'helo', result: 'none' };
  const domain = spf.domain && spf.domain !== '-' ? spf.domain.toLowerCase() : fallback;
  return { domain: printable(domain, 253), scope: spf.identity === 'helo' ? 'helo' : 'mfrom', result: SPF_RESULTS.has(spf.result) ? spf.result : 'permerror' };
}

/** Whether reports for `domain` are wanted under `domains_only`. */
function wanted(cfg: ReportingConfig, domain: string): boolean {
  if (!cfg.domains_only.length) return true;
  return cfg.domains_only.some((d) => d.toLowerCase().replace(/\.$/, '') === domain);
}

/**
 * Keeps, with the transaction, a pending record for each judged From domain whose record has a rua= (which of its
 * destinations may have the report is decided when it is sent).
 */
export async function keepReportFacts(ctx: HookContext, cfg: ReportingConfig, judged: readonly JudgedDomain[], dkim: readonly DkimRowLike[], spf: SpfFact | undefined, e: Enforcement): Promise<void> {
  if (ctx.session.check || isReportMessage(ctx)) return;
  const pending: PendingRecord[] = [];
  for (const j of judged) {
    if ((j.result !== 'pass' && j.result !== 'fail') || !j.record || !recordTag(j.record, 'rua')) continue;
    const domain = await policyDomain(j.fromDomain, ctx.services.dns);
    // These names end up in the store's keys, a Subject and a file name: host names only.
    if (!HOST_NAME.test(domain) || !HOST_NAME.test(j.fromDomain) || !wanted(cfg, domain)) continue;
    const failed = j.result === 'fail';
    const decided = failed && j.fromDomain === e.decisive;
    const override: OverrideReason | undefined = !failed ? undefined
      : e.sealer ? { type: 'local_policy', comment: `arc=pass, trusted sealer ${printable(e.sealer, 200)}` }
        : j.unsure ? { type: 'other', comment: `temperror: ${printable(j.unsure, 200)}` } : undefined;
    pending.push({
      policy: publishedPolicy(domain, j.record),
      record: {
        sourceIp: reportIp(ctx.session.remote.ip), headerFrom: j.fromDomain, envelopeFrom: ctx.mailFrom?.domain ?? '',
        dkim: j.dkimAligned ? 'pass' : 'fail', spf: j.spfAligned ? 'pass' : 'fail',
        dkimAuth: dkimAuth(dkim), spfAuth: spfAuth(ctx, spf),
      },
      failed,
      requested: normalisedPolicy(j.policy),
      ...(decided && e.enforcedAs ? { enforcedAs: e.enforcedAs } : {}),
      ...(override ? { override } : {}),
    });
  }
  if (pending.length) ctx.state[STATE_KEY] = pending;
}

/** The pending records the data hook kept, taken from the transaction's state. */
export function takeReportFacts(ctx: HookContext): PendingRecord[] {
  const pending = ctx.state[STATE_KEY] as PendingRecord[] | undefined;
  delete ctx.state[STATE_KEY];
  return pending ?? [];
}
