// Outcomes: what a hook handler returns to the chain runner.

export type OutcomeAction = 'continue' | 'accept' | 'reject' | 'tempfail' | 'disconnect' | 'quarantine';

export interface Outcome {
  action: OutcomeAction;
  /** SMTP reply code; the core picks the phase's default when absent. */
  code?: number;
  /** Enhanced status code such as `5.7.1`. */
  enhanced?: string;
  /** Reply text: one line, or several lines sent as a multi-line reply (`550-5.7.1 one`, `550 5.7.1 two`). */
  text?: string | string[];
  /**
   * Quarantine only: false when the recipient may not release the message from the quarantine pages (a virus, as
   * Proxmox Mail Gateway keeps virus mail from its user reports); only an administrator may. Absent: they may.
   */
  recipientMayRelease?: boolean;
  /**
   * Why, for the log only (never sent to the client): the message's summary line gives it as its reason, as a
   * quarantine's text is (`rules: rule block-exe`), where the reply text is written for the sender.
   */
  reason?: string;
  /**
   * rcptTo only: the cause of this refusal, for limits.max_errors. The refusals of one transaction that a plugin gives
   * the same cause count as one error (the first), so a message to many recipients that one check defers for one
   * reason (greylisting a new client) is not dropped as a client making many mistakes; past limits.max_recipients such
   * refusals count again, each, since no message has that many recipients.
   */
  countsOnceAs?: string;
}

type ReplyOptions = { code?: number; enhanced?: string; reason?: string; countsOnceAs?: string };

/**
 * Builders for outcomes.
 * @example
 *   return outcome.reject('Listed at bl.example', { code: 554, enhanced: '5.7.1' });
 */
export const outcome = {
  continue(): Outcome { return { action: 'continue' }; },
  /** Stop this phase's chain and accept (at RCPT: accept the recipient without the relay check). */
  accept(text?: string): Outcome { return { action: 'accept', text }; },
  /** Refuse permanently (5xx). */
  reject(text: string | string[], opts: ReplyOptions = {}): Outcome { return { action: 'reject', text, ...opts }; },
  /** Refuse temporarily (4xx); the client retries. */
  tempfail(text: string | string[], opts: ReplyOptions = {}): Outcome { return { action: 'tempfail', text, ...opts }; },
  /** Answer and close the connection (421 unless a code is given). */
  disconnect(text: string, opts: ReplyOptions = {}): Outcome { return { action: 'disconnect', text, ...opts }; },
  /**
   * Data phase only: accept with 250 but hold the message in the quarantine. `text` is the reason kept with it, which
   * the digest and the recipient's page show; `recipientMayRelease: false` keeps the release for an administrator.
   */
  quarantine(text: string, opts: { recipientMayRelease?: boolean } = {}): Outcome {
    return { action: 'quarantine', text, ...(opts.recipientMayRelease === false ? { recipientMayRelease: false } : {}) };
  },
};

export function isOutcome(v: unknown): v is Outcome {
  return typeof v === 'object' && v !== null && typeof (v as Outcome).action === 'string'
    && ['continue', 'accept', 'reject', 'tempfail', 'disconnect', 'quarantine'].includes((v as Outcome).action);
}
