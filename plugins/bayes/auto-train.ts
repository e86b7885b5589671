// Decides what a message teaches the filter: MailEnable's honeypot and ham addresses with its balance rule,
// and optionally verdicts certain enough to learn from; and whether a message's verdict lets it be learned.
import type { VerdictAction } from '../../core/index.ts';

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
}

export interface BalanceRule {
  balance: boolean;
  slack: number;
}

/** Matches `user@domain` exactly or `@domain` for every address of a domain (case-insensitive). */
export function addressMatcher(list: string[]): (addr: string) => boolean {
  const exact = new Set<string>();
  const domains = new Set<string>();
  for (const a of list) {
    const l = a.trim().toLowerCase();
    if (l.startsWith('@')) domains.add(l.slice(1)); else if (l) exact.add(l);
  }
  return (addr) => {
    const l = addr.toLowerCase();
    return exact.has(l) || domains.has(l.slice(l.lastIndexOf('@') + 1));
  };
}

/** The balance rule: spam is learned only while ham ≥ spam (plus slack), and ham only while spam ≥ ham. */
export function balanced(spam: boolean, nspam: number, nham: number, slack: number): boolean {
  return spam ? nham + slack >= nspam : nspam + slack >= nham;
}

/** Whether the rule lets `spam` be learned with these totals (always, with the rule off). */
export function allows(rule: BalanceRule, spam: boolean, counts: { nspam: number; nham: number }): boolean {
  return !rule.balance || balanced(spam, counts.nspam, counts.nham, rule.slack);
}

/** The lesson of the recipients: a honeypot teaches spam, a ham address (with no honeypot) ham. */
export function recipientLesson(rcpts: readonly string[], rules: AddressRules): Lesson | null {
  const honeypot = rcpts.find(addressMatcher(rules.honeypots));
  if (honeypot) return { spam: true, why: `honeypot ${honeypot}` };
  const ham = rcpts.find(addressMatcher(rules.hamAddresses));
  if (ham) return { spam: false, why: `ham address ${ham}` };
  return null;
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
