// What the gateway did to a message, as an aggregate report says it (policy_evaluated: disposition and reasons).
//
// The disposition is what happened to the message, not what the domain asked: a failure the plugin only scored (enforce
// off) that the score then rejected is `reject`; one it only scored and delivered is `none`, with a reason saying the
// policy was not applied here (local_policy), as RFC 7489 7.2 asks a receiver to say when it departs from the policy.
import type { Verdict } from '../../core/index.ts';
import type { PendingRecord } from './report-facts.ts';
import type { Disposition, OverrideReason, ReportRecord } from './report-record.ts';

/** The disposition of a verdict's action; undefined for a deferred message, which its retry reports. */
export function verdictDisposition(v: Verdict): Disposition | undefined {
  if (v.action === 'tempfail') return undefined;
  return v.action === 'reject' ? 'reject' : v.action === 'quarantine' ? 'quarantine' : 'none';
}

const scoreText = (v: Verdict) => String(Math.round(v.score * 100) / 100);

/** The record of `p` once the verdict is known, or undefined when it is not reported (a deferred message). */
export function settledRecord(p: PendingRecord, v: Verdict, enforce: boolean): ReportRecord | undefined {
  const applied = verdictDisposition(v);
  if (!applied) return undefined;
  // A passing message is not subject to the policy, whatever its score made of it.
  if (!p.failed) return { ...p.record, disposition: 'none', reasons: [] };
  const reasons: OverrideReason[] = [];
  if (p.override) reasons.push(p.override);
  else if (!enforce) {
    if (applied !== p.requested) reasons.push({ type: 'local_policy', comment: `policy scored, not enforced; verdict ${v.action} at score ${scoreText(v)}` });
  } else {
    // pct= sampled the message out: the plugin applied the next milder policy (RFC 7489 6.6.4).
    if (p.enforcedAs && p.enforcedAs !== p.requested) reasons.push({ type: 'sampled_out', comment: `pct=${p.policy.pct}` });
    if (applied !== (p.enforcedAs ?? p.requested)) reasons.push({ type: 'local_policy', comment: `verdict ${v.action} at score ${scoreText(v)}` });
  }
  return { ...p.record, disposition: applied, reasons };
}
