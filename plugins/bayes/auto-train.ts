// Decides what a message teaches the filter: MailEnable's honeypot and ham addresses with its balance rule,
// and optionally verdicts certain enough to learn from; and whether a message's verdict lets it be learned.
import type { Finding, VerdictAction } from '../../core/index.ts';
import { addressMatcher } from '../../core/lists/address-matcher.ts';

// The matcher lives in core, which matches the access lists by mailbox the same way; the plugin's modules take it from here.
export { addressMatcher };

/** What a message would teach: its class, and why (the address or the verdict that says so). */
export interface Lesson { spam: boolean; why: string }

/** What became of a lesson, and the class totals the balance rule judged by (before the message). */
export interface LearnDecision { learned: boolean; nspam: number; nham: number }

/** A lesson as the log and the finding name it. */
export function lessonFields(lesson: Lesson): { class: 'spam' | 'ham'; why: string } {
  return { class: lesson.spam ? 'spam' : 'ham', why: lesson.why };
}

export interface AddressRules {
  honeypots: string[];
  hamAddresses: string[];
  /** Characters that start a recipient's address tag (`user+tag@`); empty: no tags. */
  delimiters?: string;
}

export interface BalanceRule {
  balance: boolean;
  slack: number;
}

/** The balance rule: spam is learned only while ham ≥ spam (plus slack), and ham only while spam ≥ ham. */
export function balanced(spam: boolean, nspam: number, nham: number, slack: number): boolean {
  return spam ? nham + slack >= nspam : nspam + slack >= nham;
}

/** Whether the rule lets `spam` be learned with these totals (always, with the rule off). */
export function allows(rule: BalanceRule, spam: boolean, counts: { nspam: number; nham: number }): boolean {
  return !rule.balance || balanced(spam, counts.nspam, counts.nham, rule.slack);
}

/**
 * The lesson of a message's recipients, by `rules` (matched once, not per message): a honeypot teaches spam, a ham
 * address (with no honeypot) ham.
 */
export function recipientLesson(rules: AddressRules): (rcpts: readonly string[]) => Lesson | null {
  const isHoneypot = addressMatcher(rules.honeypots, rules.delimiters);
  const isHam = addressMatcher(rules.hamAddresses, rules.delimiters);
  return (rcpts) => {
    const honeypot = rcpts.find(isHoneypot);
    if (honeypot) return { spam: true, why: `honeypot ${honeypot}` };
    const ham = rcpts.find(isHam);
    return ham ? { spam: false, why: `ham address ${ham}` } : null;
  };
}

/**
 * The verdict's total without one plugin's findings, rounded to cents as the verdict rounds its own. Summed from the
 * findings, not taken as the verdict's total less that plugin's share: the difference carries a float's tail (-2.3
 * less -0.3 is -1.9999999999999998), which misses a threshold the total is exactly on and shows in the log.
 */
export function scoreWithout(findings: readonly Finding[], plugin: string): number {
  const sum = findings.reduce((a, f) => (f.plugin === plugin ? a : a + f.score), 0);
  return Math.round(sum * 100) / 100;
}

/** A verdict is certain when the other plugins' total is far enough from the thresholds. */
export function verdictLesson(otherScore: number, spamScore: number, hamScore: number): Lesson | null {
  if (otherScore >= spamScore) return { spam: true, why: `verdict score ${otherScore}` };
  if (otherScore <= hamScore) return { spam: false, why: `verdict score ${otherScore}` };
  return null;
}

/**
 * Whether a message that got this verdict is settled, so that learning it now learns it once. A deferred
 * message (451) comes back, and learning each attempt would count it again. A refused one (550) is not
 * retried: the sender has its permanent answer, so it is learned, since honeypot mail and verdicts sure
 * enough to refuse are the spam auto-training is for. Accepted and quarantined messages are in the queue.
 */
export function settled(action: VerdictAction): boolean {
  return action !== 'tempfail';
}
