// The fields a session's log lines carry about the client, its envelope, its login and its TLS: what an admin greps
// for (Postfix's `NOQUEUE: reject: RCPT from …; from=<…> to=<…> helo=<…>`), bounded so no client can make a line long.
import type { SessionState } from '../hooks/transaction.ts';

/** Most characters of a user name a log line keeps: an AUTH name is the client's to choose, up to its whole line. */
export const LOGGED_USER_MAX = 100;

/** A user name as the client gave it, cut to LOGGED_USER_MAX characters (the cut marked `…`). */
export function loggedUser(name: string): string {
  return name.length <= LOGGED_USER_MAX ? name : `${name.slice(0, LOGGED_USER_MAX - 1)}…`;
}

/**
 * The client's host name as the Received field and the log name it, undefined when none is known: the one a plugin
 * verified (the ptr plugin's forward-confirmed PTR name), else the one a trusted proxy's XCLIENT NAME gave. Postfix
 * writes `unknown` for a name it has not verified, which is why a PTR name that does not resolve back is not here.
 */
export function clientName(st: SessionState): string | undefined {
  return st.remote.verifiedName ?? st.remote.hostname;
}

/** `client_name` when the client's name is known (Postfix's `client=name[ip]`), else nothing. */
export function clientNameField(st: SessionState): { client_name?: string } {
  const name = clientName(st);
  return name ? { client_name: name } : {};
}

/**
 * Who was refused what, on a refusal inside a transaction: the client's address (and verified name), its HELO name,
 * the sender and the recipients, named as on the message's summary line, so one grep finds a sender's refusals and
 * its deliveries alike.
 */
export function refusalFields(st: SessionState, from: string | undefined, to: readonly string[]): Record<string, unknown> {
  return { client: st.remote.ip, ...clientNameField(st), helo: st.helo, ...(st.user ? { user: loggedUser(st.user) } : {}), from, to: [...to] };
}

/** What a finished TLS handshake agreed on: the protocol version (`TLSv1.3`) and the cipher's OpenSSL name. */
export function tlsFields(socket: unknown): { protocol?: string; cipher?: string } {
  const s = socket as { getProtocol?: () => string | null; getCipher?: () => { name?: string } | undefined };
  const protocol = typeof s?.getProtocol === 'function' ? s.getProtocol() ?? undefined : undefined;
  const cipher = typeof s?.getCipher === 'function' ? s.getCipher()?.name : undefined;
  return { protocol, cipher };
}
