// Which refusals count toward limits.max_errors. As Postfix's smtpd_hard_error_limit counts them: every 4xx and 5xx
// reply, so a client that goes on after 550s for a thousand recipients is dropped. Two kinds of 4xx are not the
// client's error and are left out, and refusals of one transaction that a plugin gives one cause (a greylisting
// deferral of each recipient of one message) count once, up to limits.max_recipients of them.

const ENHANCED = /^(\d)\.(\d{1,3})\.(\d{1,3})(?=\s|$)/;

/**
 * Whether a refusal with `code` and `text` (its enhanced code first, as our replies carry it) counts as one of the
 * client's errors. Not counted:
 * - `452 4.5.3` (too many recipients): RFC 5321 §4.5.3.1.10 has the client send the rest in a new transaction; both
 *   limits.max_recipients and the bayes plugin's split_recipients ask for exactly that, and a client doing as told
 *   must not be dropped for it;
 * - `4.3.x` (the mail system's own trouble: a plugin that failed or timed out, a full disk): the fault is ours, and
 *   limits.error_block would otherwise shut out every client while, say, the state store is down.
 */
export function countsAsError(code: number, text: string | readonly string[] | undefined): boolean {
  if (code < 400) return false;
  if (code >= 500) return true;
  const m = enhancedOf(text);
  if (!m) return true;
  if (isTooManyRecipients(code, text)) return false;
  return m[2] !== '3';
}

/** Whether a reply is a temporary refusal for the mail system's own trouble (`4.3.x`: a full disk, a failed plugin). */
export function isOwnTrouble(code: number, text: string | readonly string[] | undefined): boolean {
  return code >= 400 && code < 500 && enhancedOf(text)?.[2] === '3';
}

/** The enhanced status code at the start of a reply's first line (`4.5.3 …`), as digits in [1..3], or null. */
export function enhancedOf(text: string | readonly string[] | undefined): RegExpExecArray | null {
  const first = (Array.isArray(text) ? text[0] : text) as string | undefined;
  return ENHANCED.exec(first ?? '');
}

/** Whether a refusal is `452 4.5.3` (too many recipients): limits.max_recipients', or a plugin's (bayes split_recipients). */
export function isTooManyRecipients(code: number, text: string | readonly string[] | undefined): boolean {
  return code === 452 && enhancedOf(text)?.[0] === '4.5.3';
}

/** Per transaction (a Transaction object, dropped with it): how often each plugin's cause has refused so far. */
const causesSeen = new WeakMap<object, Map<string, number>>();

/**
 * Whether a refusal at RCPT by `plugin` with `cause` (its outcome's `countsOnceAs`) repeats a cause already counted in
 * transaction `tx`, and so is not counted again toward limits.max_errors. Rspamd greylists a message once, not each of
 * its recipients: counting every deferral of a message to 25 new recipients had the client dropped at the tenth, and
 * the message needed four delay rounds. Past `maxRecipients` refusals of the cause, each counts again: no message has
 * that many recipients, so the client is trying addresses, and max_errors must still end that.
 */
export function repeatsCountedCause(tx: object, plugin: string | undefined, cause: string | undefined, maxRecipients: number): boolean {
  if (cause === undefined) return false;
  let seen = causesSeen.get(tx);
  if (!seen) causesSeen.set(tx, (seen = new Map()));
  const key = `${plugin ?? ''}\0${cause}`;
  const n = (seen.get(key) ?? 0) + 1;
  seen.set(key, n);
  return n > 1 && n <= maxRecipients;
}
