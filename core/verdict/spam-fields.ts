// The verdict's spam mark in the forms a server behind reads: the gateway's own X-Mailmoat-Spam fields, and
// SpamAssassin's X-Spam-Flag / X-Spam-Status / X-Spam-Level, which sieve scripts, Exchange transport rules and mail
// clients already key on (headers.spam_fields chooses).
import type { Verdict } from './types.ts';

/** The sets of spam fields `headers.spam_fields` may name. */
export const SPAM_FIELD_SETS = ['mailmoat', 'spamassassin'] as const;
export type SpamFieldSet = typeof SPAM_FIELD_SETS[number];

/** SpamAssassin's cap on X-Spam-Level: its `_STARS_` tag writes one star per whole point, at most 50. */
export const MAX_STARS = 50;

/**
 * What the client's message loses when the gateway writes SpamAssassin's fields: every field of that namespace, and
 * Rspamd's bare `X-Spam`. A sender's `X-Spam-Flag: NO` beside ours would leave a server behind two answers, and
 * the first one it reads is the sender's.
 */
export const UPSTREAM_SPAM_FIELDS = ['x-spam', 'x-spam-*'] as const;

/** The thresholds SpamAssassin's fields need: the spam mark's, and those standing in for it when it is off. */
interface MarkThresholds { add_header?: number; quarantine?: number; tempfail?: number; reject?: number }

/**
 * The score from which the gateway marks a message spam, as SpamAssassin's `required_score`: scores.add_header, or
 * with that off the lowest threshold set (each of them marks what it catches); undefined when none is set.
 */
export function spamMarkScore(scores: MarkThresholds): number | undefined {
  if (scores.add_header !== undefined) return scores.add_header;
  const set = [scores.quarantine, scores.tempfail, scores.reject].filter((t): t is number => t !== undefined);
  return set.length ? Math.min(...set) : undefined;
}

/**
 * Whether a rule's accept overruled the score. Its message is not spam by a person's or a rule's word, so its level
 * says None and its stars are none, as a released message's: a `Spam: No` beside `Spam-Level: Low` left the server
 * behind to choose.
 */
export function scoreOverruled(v: Pick<Verdict, 'action' | 'forced'>): boolean {
  return v.forced === true && v.action === 'accept';
}

/** X-Spam-Level: one star per whole point of `score`, none below 1, at most MAX_STARS. */
export function spamStars(score: number): string {
  return '*'.repeat(Math.max(0, Math.min(MAX_STARS, Math.floor(score))));
}

/** Lines of a tests list longer than this get a space after their next comma, where a long field may be folded. */
const TESTS_RUN = 70;

/**
 * SpamAssassin's `tests=` list: the symbols once each, sorted, joined by commas, `none` without any. A space follows a
 * comma now and then, since a field is folded only at a space and a message with many symbols would otherwise pass
 * the 998-character line limit; readers of SpamAssassin's own folded list already meet a blank after a comma.
 */
function testsList(v: Pick<Verdict, 'findings'>): string {
  const names = [...new Set(v.findings.map((f) => f.symbol))].sort();
  if (!names.length) return 'none';
  let out = names[0];
  let run = out.length;
  for (const name of names.slice(1)) {
    const sep = run + name.length + 1 > TESTS_RUN ? ', ' : ',';
    run = sep === ',' ? run + name.length + 1 : name.length;
    out += sep + name;
  }
  return out;
}

/**
 * `X-Spam-Status` as SpamAssassin writes it: `Yes, score=7.2 required=5.0 tests=A,B` (one decimal, as its `%2.1f`),
 * `required=` left out when no threshold marks spam. Yes or No is the gateway's judgement (`spam`), which a rule's
 * accept or a release may make No above the required score.
 */
export function spamStatusValue(v: Pick<Verdict, 'score' | 'findings'>, spam: boolean, required: number | undefined): string {
  const req = required !== undefined ? ` required=${required.toFixed(1)}` : '';
  return `${spam ? 'Yes' : 'No'}, score=${v.score.toFixed(1)}${req} tests=${testsList(v)}`;
}

/**
 * SpamAssassin's three fields for a verdict: X-Spam-Flag: YES on spam only (SpamAssassin writes none on ham, and a
 * rule testing that the field exists must not fire), X-Spam-Status, and X-Spam-Level's stars, empty when the message
 * is not spam by the gateway's word though its score is high (scoreOverruled).
 */
export function spamAssassinFields(v: Verdict, spam: boolean, scores: MarkThresholds): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (spam) out.push(['X-Spam-Flag', 'YES']);
  out.push(['X-Spam-Status', spamStatusValue(v, spam, spamMarkScore(scores))]);
  out.push(['X-Spam-Level', scoreOverruled(v) ? '' : spamStars(v.score)]);
  return out;
}
