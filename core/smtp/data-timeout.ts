// Which DATA streams the idle timeout cut off, and the reply it sent: the stream then ends as one whose client hung
// up (smtp-server's ECONNECTION), and the summary line must say what really happened and what the client was told.

const timedOut = new WeakMap<object, string>();

/** The idle timeout cut off `stream` with `reply` (`421 4.4.2 Timeout - closing connection`). */
export function markDataTimeout(stream: object, reply: string): void { timedOut.set(stream, reply); }

/** The reply the idle timeout sent while `stream` was being read, if it did. */
export function dataTimeoutReply(stream: object): { code: number; text: string } | undefined {
  const sent = timedOut.get(stream);
  if (!sent) return undefined;
  const m = /^(\d{3})[ -]?(.*)$/s.exec(sent);
  return m ? { code: Number(m[1]), text: m[2] } : { code: 421, text: sent };
}
