// Which DATA streams the idle timeout cut off, the reply it sent and how much of the message had come: the stream then
// ends as one whose client hung up (smtp-server's ECONNECTION), and the summary line must say what really happened,
// what the client was told, and the size received (the spool had stored nothing it could count).

const timedOut = new WeakMap<object, { reply: string; bytes: number }>();

/** The idle timeout cut off `stream` with `reply` (`421 4.4.2 Timeout - closing connection`) after `bytes` of the message. */
export function markDataTimeout(stream: object, reply: string, bytes: number): void { timedOut.set(stream, { reply, bytes }); }

/** The reply the idle timeout sent while `stream` was being read, and the bytes read by then, if it did. */
export function dataTimeoutReply(stream: object): { code: number; text: string; bytes: number } | undefined {
  const sent = timedOut.get(stream);
  if (!sent) return undefined;
  const m = /^(\d{3})[ -]?(.*)$/s.exec(sent.reply);
  return m ? { code: Number(m[1]), text: m[2], bytes: sent.bytes } : { code: 421, text: sent.reply, bytes: sent.bytes };
}
