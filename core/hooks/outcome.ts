// Outcomes: what a hook handler returns to the chain runner, and whether one can be answered in its hook.
import type { HookName } from './hook-names.ts';

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

/**
 * The reply-code classes each action may carry, and the class of the code it gets when it gives none. A disconnect
 * may refuse for good (5xx) or for now, which is answered 421 whatever 4xx it names: 421 is the code that tells a
 * client the channel closes (RFC 5321 §3.8). An accept's code is read by the command hooks only (a 334 of a plugin's
 * own extension); a quarantine is answered 250 and queued, so a code on it can only be 2xx.
 */
const CODE_CLASSES: Record<Exclude<OutcomeAction, 'continue'>, { allowed: readonly number[]; fallback: number }> = {
  accept: { allowed: [2, 3], fallback: 2 },
  quarantine: { allowed: [2], fallback: 2 },
  reject: { allowed: [5], fallback: 5 },
  tempfail: { allowed: [4], fallback: 4 },
  disconnect: { allowed: [4, 5], fallback: 4 },
};

/** RFC 3463: class 2, 4 or 5, then a subject and a detail of one to three digits. */
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** A value as a warning may name it: short whatever the plugin returned, and never the whole of an object. */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** A reply code as RFC 5321 §4.2 has them: three digits, 2 to 5, then 0 to 5, then any. */
function isReplyCode(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 200 && v < 560 && Math.floor(v / 10) % 10 <= 5;
}

/** An enhanced code the text starts with, which the reply keeps instead of adding its own (core/smtp/reply.ts). */
const LEADING_ENHANCED = /^(\d)\.\d{1,3}\.\d{1,3}\b/;

function lineProblem(line: unknown, cls: number): string | undefined {
  if (typeof line !== 'string') return `text has a line that is not a string: ${shown(line)}`;
  const m = LEADING_ENHANCED.exec(line);
  return m && Number(m[1]) !== cls ? `text starts with the enhanced code ${m[0]}, which does not fit a ${cls}xx reply` : undefined;
}

/** The text: undefined, one line, or a non-empty list of lines. `cls` is the reply code's first digit. */
function textProblem(text: unknown, cls: number): string | undefined {
  if (text === undefined) return undefined;
  if (typeof text === 'string') return lineProblem(text, cls);
  if (!Array.isArray(text)) return `text ${shown(text)} is not a string or a list of strings`;
  if (text.length === 0) return 'text is an empty list';
  for (const line of text) {
    const why = lineProblem(line, cls);
    if (why) return why;
  }
  return undefined;
}

/**
 * Why `v`, returned by a handler of `hook`, cannot be answered, or undefined when it can. The one place where an
 * outcome's action, code class and enhanced code are judged: the chain runner asks once per handler call (a handler
 * returning nothing is not asked), and answers `451 4.3.0` for what this refuses, so a reply is never sent with a
 * code that says something else than the action does (a `250` for a disconnect that queued nothing). Cheap on
 * purpose: a few type checks, on the per-message path. Observing hooks ignore outcomes and are not asked.
 */
export function outcomeProblem(hook: HookName, v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `not an outcome: ${shown(v)}`;
  const o = v as Record<string, unknown>;
  const action = o.action;
  // A continue says nothing to the client: whatever else it carries is never read.
  if (action === 'continue') return undefined;
  if (typeof action !== 'string' || !Object.hasOwn(CODE_CLASSES, action)) return `not an outcome: action ${shown(action)} is none of continue, ${Object.keys(CODE_CLASSES).join(', ')}`;
  const classes = CODE_CLASSES[action as keyof typeof CODE_CLASSES];
  if (action === 'quarantine' && hook !== 'data') return `quarantine is for the data hook only, not ${hook}`;
  const { code, enhanced } = o;
  if (code !== undefined && !isReplyCode(code)) return `code ${shown(code)} is not an SMTP reply code`;
  const cls = code === undefined ? classes.fallback : Math.floor(code / 100);
  if (!classes.allowed.includes(cls)) return `code ${code} does not fit ${action} (${classes.allowed.map((c) => `${c}xx`).join(' or ')})`;
  if (enhanced !== undefined) {
    if (typeof enhanced !== 'string' || !ENHANCED_CODE.test(enhanced)) return `enhanced ${shown(enhanced)} is not an enhanced status code such as 5.7.1`;
    if (Number(enhanced[0]) !== cls) return `enhanced ${enhanced} does not fit ${code === undefined ? `${action}'s ${cls}xx reply` : `the reply code ${code}`}`;
  }
  const why = textProblem(o.text, cls);
  if (why) return why;
  if (o.reason !== undefined && typeof o.reason !== 'string') return `reason ${shown(o.reason)} is not a string`;
  if (o.countsOnceAs !== undefined && typeof o.countsOnceAs !== 'string') return `countsOnceAs ${shown(o.countsOnceAs)} is not a string`;
  if (o.recipientMayRelease !== undefined && typeof o.recipientMayRelease !== 'boolean') return `recipientMayRelease ${shown(o.recipientMayRelease)} is not true or false`;
  return undefined;
}
