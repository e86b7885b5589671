// The one place where findings become a verdict: scores summed, thresholds from `scores:` applied.
import type { Finding, SpamLevel, Verdict, VerdictAction } from './types.ts';
import type { GatewayConfig } from '../config/gateway-schema.ts';

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
  const thresholds: Array<[VerdictAction, number | undefined]> = [
    ['reject', scores.reject], ['quarantine', scores.quarantine], ['tempfail', scores.tempfail], ['add_header', scores.add_header],
  ];
  for (const [a, t] of thresholds) {
    if (t !== undefined && score >= t) { action = a; reason = `score ${score} ≥ ${a} threshold ${t}`; break; }
  }
  if (forced && SEVERITY[forced.action] >= SEVERITY[action]) { action = forced.action; reason = forced.reason; }
  return { action, score, level: spamLevel(score, scores.levels), findings, reason };
}

/** `X-Mailmoat-Verdict` value: the action, the total, and every symbol with its score. */
export function verdictHeaderValue(v: Verdict): string {
  const symbols = v.findings.map((f) => `${f.symbol}(${Math.round(f.score * 100) / 100})`).join(' ');
  return `${v.action}; score=${v.score}; level=${v.level}${symbols ? `; symbols=${symbols}` : ''}`;
}

/** Headers the verdict adds to an accepted or quarantined message. */
export function verdictHeaders(v: Verdict, scores: Scores): Array<[string, string]> {
  const out: Array<[string, string]> = [['X-Mailmoat-Verdict', verdictHeaderValue(v)]];
  const spam = v.action !== 'accept' && (scores.add_header === undefined || v.score >= scores.add_header);
  out.push(['X-Mailmoat-Spam', spam ? 'Yes' : 'No']);
  out.push(['X-Mailmoat-Spam-Score', String(v.score)]);
  out.push(['X-Mailmoat-Spam-Level', v.level]);
  return out;
}
