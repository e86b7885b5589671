// The one place where findings become a verdict: scores summed, thresholds from `scores:` applied.
import type { Finding, SpamLevel, Verdict, VerdictAction } from './types.ts';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { THRESHOLD_PRECEDENCE } from './thresholds.ts';
import { cappedTotal, cappedText, hundredths } from './plugin-caps.ts';
import { scoreOverruled, spamAssassinFields, type SpamFieldSet } from './spam-fields.ts';

/** The thresholds of one message: `scores.domains` was resolved before (core/verdict/domain-thresholds.ts). */
type Scores = Omit<GatewayConfig['scores'], 'domains'>;

/** Actions by severity; a forced action (a plugin's quarantine outcome) is never lowered by the score. */
const SEVERITY: Record<VerdictAction, number> = { accept: 0, add_header: 1, tempfail: 2, quarantine: 3, reject: 4 };

export function spamLevel(score: number, levels: Scores['levels']): SpamLevel {
  if (score >= levels.high) return 'High';
  if (score >= levels.medium) return 'Medium';
  if (score >= levels.low) return 'Low';
  return 'None';
}

/**
 * The spam level of a score. A score that reaches add_header is marked spam (`X-Mailmoat-Spam: Yes`), so it is at
 * least Low even where levels.low is set above add_header: a spam mark beside `level=None` told the reader nothing.
 */
function levelOf(score: number, scores: Scores): SpamLevel {
  const level = spamLevel(score, scores.levels);
  return level === 'None' && scores.add_header !== undefined && score >= scores.add_header ? 'Low' : level;
}

/** The threshold the verdict header names as `required=`: reject, or when that is off the most severe one set. */
function requiredScore(scores: Scores): number | undefined {
  for (const a of THRESHOLD_PRECEDENCE) if (scores[a] !== undefined) return scores[a];
  return undefined;
}

/** Findings a forced accept gives way to: a virus the scanner found is never delivered on a rule's word. */
const ACCEPT_GIVES_WAY_TO = new Set(['CLAM_VIRUS']);

function acceptHeldBy(findings: Finding[]): string | undefined {
  return findings.find((f) => ACCEPT_GIVES_WAY_TO.has(f.symbol))?.symbol;
}

export function decideVerdict(findings: Finding[], scores: Scores, forced?: { action: VerdictAction; reason: string }): Verdict {
  const { score, capped } = cappedTotal(findings, scores.max_per_plugin);
  let action: VerdictAction = 'accept';
  let reason = 'score below every threshold';
  for (const a of THRESHOLD_PRECEDENCE) {
    const t = scores[a];
    if (t !== undefined && score >= t) { action = a; reason = `score ${score} ≥ ${a} threshold ${t}`; break; }
  }
  // The summary line and the queue entry carry the reason: they say why the score is below the findings' sum.
  if (capped.length) reason += `; capped by scores.max_per_plugin: ${capped.map((c) => cappedText(c, '→')).join(' ')}`;
  const required = requiredScore(scores);
  const held = forced?.action === 'accept' ? acceptHeldBy(findings) : undefined;
  // A forced accept (a rule's) stands above the score; any other forced action is never lowered by it.
  const byPlugin = !!forced && !held && (forced.action === 'accept' || SEVERITY[forced.action] >= SEVERITY[action]);
  if (byPlugin) { action = forced.action; reason = forced.reason; }
  if (held) reason += `; ${forced!.reason} not applied: ${held} recorded`;
  return {
    action, score, level: levelOf(score, scores), findings, reason, ...(byPlugin ? { forced: true } : {}),
    ...(capped.length ? { capped } : {}), ...(required !== undefined ? { required } : {}),
  };
}

/**
 * `X-Mailmoat-Verdict` value: the action, the total and the threshold it is judged against (`required=15`, Rspamd's
 * `[7.25 / 15.00]`), and every symbol with its score, then the plugins capped by scores.max_per_plugin
 * (`capped=rbl(4.25->4)`). Fields are `key=value` between semicolons: a reader takes them by name.
 */
export function verdictHeaderValue(v: Verdict): string {
  const symbols = v.findings.map((f) => `${f.symbol}(${hundredths(f.score)})`).join(' ');
  const capped = v.capped?.length ? `; capped=${v.capped.map((c) => cappedText(c)).join(' ')}` : '';
  // A forced action's score explains nothing (a rule's quarantine at score 0): its reason does, from the message alone,
  // and a threshold beside it would say the score decided.
  const required = !v.forced && v.required !== undefined ? `; required=${v.required}` : '';
  const why = v.forced ? `; reason="${quotedReason(v.reason)}"` : '';
  return `${v.action}; score=${v.score}${required}; level=${v.level}${symbols ? `; symbols=${symbols}` : ''}${capped}${why}`;
}

/** A plugin's reason inside a quoted string: printable ASCII only (the header may go to a 7-bit server), cut at 160. */
function quotedReason(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim();
  const cut = ascii.length > 160 ? `${ascii.slice(0, 157)}...` : ascii;
  return cut.replace(/["\\]/g, '\\$&');
}

/**
 * Whether the score says spam: `X-Mailmoat-Spam: Yes` and the subject tag. A rule's quarantine at score 0 is a
 * policy decision, not a judgement that the message is spam, and a released copy must not say it is.
 */
export function judgedSpam(v: Verdict, scores: Scores): boolean {
  return v.action !== 'accept' && (scores.add_header === undefined || v.score >= scores.add_header);
}

/**
 * Headers the verdict adds to an accepted or quarantined message, in order: SpamAssassin's fields when `sets` names
 * them, X-Mailmoat-Verdict, then the gateway's own spam fields when `sets` names them. SpamAssassin's come before the
 * verdict's field so that a release tells them from a rule's X-Spam-Flag, which plugins' fields follow
 * (core/verdict/released-fields.ts). A rule's accept says not spam at every level (scoreOverruled).
 */
export function verdictHeaders(v: Verdict, scores: Scores, sets: readonly SpamFieldSet[] = ['mailmoat']): Array<[string, string]> {
  const spam = judgedSpam(v, scores);
  const out: Array<[string, string]> = sets.includes('spamassassin') ? spamAssassinFields(v, spam, scores) : [];
  out.push(['X-Mailmoat-Verdict', verdictHeaderValue(v)]);
  if (!sets.includes('mailmoat')) return out;
  out.push(['X-Mailmoat-Spam', spam ? 'Yes' : 'No']);
  out.push(['X-Mailmoat-Spam-Score', String(v.score)]);
  out.push(['X-Mailmoat-Spam-Level', scoreOverruled(v) ? 'None' : v.level]);
  return out;
}
