// Which refusals count toward limits.max_errors. As Postfix's smtpd_hard_error_limit counts them: every 4xx and 5xx
// reply, so a client that goes on after a greylisting 451 for each of a thousand recipients is dropped as one that
// goes on after 550s. Two kinds of 4xx are not the client's error and are left out.

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
  const first = (Array.isArray(text) ? text[0] : text) as string | undefined;
  const m = ENHANCED.exec(first ?? '');
  if (!m) return true;
  if (code === 452 && m[0] === '4.5.3') return false;
  return m[2] !== '3';
}
