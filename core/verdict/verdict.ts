// The one place where findings become a verdict: scores summed, thresholds from `scores:` applied.
import type { Finding, SpamLevel, Verdict, VerdictAction } from './types.ts';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import { THRESHOLD_PRECEDENCE } from './thresholds.ts';

type Scores = GatewayConfig['scores'];

/** Actions by severity; a forced action (a plugin's quarantine outcome) is never lowered by the score. */
const SEVERITY: Record<VerdictAction, number> = { accept: 0, add_header: 1, tempfail: 2, quarantine: 3, reject: 4 };

export function spamLevel(score: number, levels: Scores['levels']): SpamLevel {
  if (score >= levels.high) return 'High';
  if (score >= levels.medium) return 'Medium';
  if (score >= levels.low) return 'Low';
  return 'None';
}

export function decideVerdict(findings: Finding[], scores: Scores, forced?: { action: VerdictAction; reason: string }): Verdict {
  const score = Math.round(findings.reduce((sum, f) => sum + f.score, 0) * 100) / 100;
  let action: VerdictAction = 'accept';
  let reason = 'score below every threshold';
  for (const a of THRESHOLD_PRECEDENCE) {
    const t = scores[a];
    if (t !== undefined && score >= t) { action = a; reason = `score ${score} ≥ ${a} threshold ${t}`; break; }
  }
  const byPlugin = !!forced && SEVERITY[forced.action] >= SEVERITY[action];
  if (byPlugin) { action = forced.action; reason = forced.reason; }
  return { action, score, level: spamLevel(score, scores.levels), findings, reason, ...(byPlugin ? { forced: true } : {}) };
}

/** `X-Mailmoat-Verdict` value: the action, the total, and every symbol with its score. */
export function verdictHeaderValue(v: Verdict): string {
  const symbols = v.findings.map((f) => `${f.symbol}(${Math.round(f.score * 100) / 100})`).join(' ');
  // A forced action's score explains nothing (a rule's quarantine at score 0): its reason does, from the message alone.
  const why = v.forced ? `; reason="${quotedReason(v.reason)}"` : '';
  return `${v.action}; score=${v.score}; level=${v.level}${symbols ? `; symbols=${symbols}` : ''}${why}`;
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

/** Headers the verdict adds to an accepted or quarantined message. */
export function verdictHeaders(v: Verdict, scores: Scores): Array<[string, string]> {
  const out: Array<[string, string]> = [['X-Mailmoat-Verdict', verdictHeaderValue(v)]];
  const spam = judgedSpam(v, scores);
  out.push(['X-Mailmoat-Spam', spam ? 'Yes' : 'No']);
  out.push(['X-Mailmoat-Spam-Score', String(v.score)]);
  out.push(['X-Mailmoat-Spam-Level', v.level]);
  return out;
}
