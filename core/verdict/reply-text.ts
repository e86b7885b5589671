// What a client hears when the score refuses or defers its message: `scores.reject_text` and `scores.tempfail_text`.
import type { Issue } from '../config/schema.ts';
import type { Reply } from '../smtp/reply.ts';
import type { Verdict } from './types.ts';

/** The placeholders a reply text may hold. */
const PLACEHOLDERS = ['score'] as const;

/**
 * The defaults name no score: a sender who reads `score 15.25` learns how far to tone a message down, and tries again
 * with the next one. An admin who wants the score in the reply writes `{score}` in the text; the log's summary line
 * always has it.
 */
export const DEFAULT_REJECT_TEXT = 'Message refused as spam';
export const DEFAULT_TEMPFAIL_TEXT = 'Message deferred, please try again later';

/** Why `text` cannot be a reply line, or undefined: one line of printable ASCII with known placeholders only. */
function replyTextProblem(text: string): string | undefined {
  if (!text.trim()) return 'is empty';
  if (!/^[\x20-\x7e]*$/.test(text)) return 'must be printable ASCII on one line (it is sent as an SMTP reply)';
  if (text.length > 400) return 'is longer than 400 characters';
  const unknown = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((k) => !(PLACEHOLDERS as readonly string[]).includes(k));
  if (unknown.length) return `has an unknown placeholder {${unknown[0]}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`;
  return undefined;
}

/** The config check of one reply text key. */
export function checkReplyText(v: string, p: string, is: Issue[]): void {
  const why = replyTextProblem(v);
  if (why) is.push({ path: p, message: why });
}

/** The 550 or 451 for a verdict the score refused or deferred, with its enhanced code before the configured text. */
export function scoreReply(v: Verdict, texts: { reject_text: string; tempfail_text: string }): Reply {
  const fill = (t: string) => t.replace(/\{score\}/g, String(v.score));
  return v.action === 'reject'
    ? { code: 550, text: `5.7.1 ${fill(texts.reject_text)}` }
    : { code: 451, text: `4.7.1 ${fill(texts.tempfail_text)}` };
}
