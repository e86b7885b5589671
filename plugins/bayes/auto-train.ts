// Decides what a message teaches the filter: MailEnable's honeypot and ham addresses with its balance rule,
// and optionally verdicts certain enough to learn from.

export type Lesson = { spam: boolean; why: string } | { skip: string } | null;

export interface AutoTrainRules {
  honeypots: string[];
  hamAddresses: string[];
  balance: boolean;
  balanceSlack: number;
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

export function recipientLesson(rcpts: readonly string[], rules: AutoTrainRules, counts: { nspam: number; nham: number }): Lesson {
  const isHoneypot = addressMatcher(rules.honeypots);
  const isHam = addressMatcher(rules.hamAddresses);
  let spam: boolean | undefined;
  let why = '';
  const honeypot = rcpts.find(isHoneypot);
  if (honeypot) { spam = true; why = `honeypot ${honeypot}`; } else {
    const ham = rcpts.find(isHam);
    if (ham) { spam = false; why = `ham address ${ham}`; }
  }
  if (spam === undefined) return null;
  if (rules.balance && !balanced(spam, counts.nspam, counts.nham, rules.balanceSlack)) {
    return { skip: `${why}: balance rule (${counts.nspam} spam, ${counts.nham} ham learned)` };
  }
  return { spam, why };
}

/** A verdict is certain when the other plugins' total is far enough from the thresholds. */
export function verdictLesson(otherScore: number, spamScore: number, hamScore: number): Lesson {
  if (otherScore >= spamScore) return { spam: true, why: `verdict score ${otherScore}` };
  if (otherScore <= hamScore) return { spam: false, why: `verdict score ${otherScore}` };
  return null;
}
