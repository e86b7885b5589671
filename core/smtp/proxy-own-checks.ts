// When the connect checks judge a trusted proxy that names no client. Its greeting skips them, since the proxy
// normally sends XCLIENT next and the checks then judge the client it names; a proxy that goes on without XCLIENT is
// the client itself, and, as Postfix applies its client restrictions to whoever the client is when they are evaluated,
// the checks run for its own address at its first command that is more than the opening of a session.

/**
 * Commands a proxy sends before it names its client, or that carry nothing: the checks wait past these. Anything
 * else (MAIL FROM in practice; also AUTH, VRFY, RCPT, DATA, an unknown verb) is the proxy acting as a client.
 */
const BEFORE_NAMING = new Set(['EHLO', 'HELO', 'LHLO', 'XCLIENT', 'STARTTLS', 'NOOP', 'RSET', 'QUIT', 'HELP']);

/** Whether the command `verb` (upper case) makes a proxy's session that named no client the proxy's own. */
export function actsAsClient(verb: string): boolean {
  return !BEFORE_NAMING.has(verb);
}
