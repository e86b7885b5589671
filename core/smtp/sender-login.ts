// The sender-login binding at MAIL FROM (auth.sender_logins, auth.enforce_sender_login), as Postfix's
// reject_sender_login_mismatch: a logged-in client may use only the addresses its login owns, and on the listeners
// where users log in, an address a login owns may not be used without that login.
import type { Logger } from '../log/types.ts';
import type { Runtime } from '../runtime.ts';
import type { SessionState } from '../hooks/transaction.ts';
import type { AccessRefusal } from './envelope-access.ts';
import { refusalFields } from './session-log-fields.ts';
import { loginInReply } from './login-in-reply.ts';

const REASON = 'auth.enforce_sender_login';

/**
 * The listeners users log in on. On `listen` (the MX port) mail from outside may carry one of our addresses without
 * any login (a forwarder, a list that keeps the sender), so only a client that logged in is held to its login there.
 */
const LOGIN_LISTENERS: ReadonlySet<string> = new Set(['submission', 'smtps']);

/** Why the session may not use `address` as its sender (the reply's text), or undefined when it may. */
export function senderLoginMismatch(rt: Runtime, st: SessionState, address: string): string | undefined {
  const map = rt.policy.senderLogins;
  // The null sender names nobody, so it impersonates nobody: it is what bounces, auto-replies and read receipts use.
  if (!map || !address) return undefined;
  const owners = map.ownersOf(address);
  if (st.user) return owners?.includes(st.user) ? undefined : `<${address}>: Sender address rejected: not owned by user ${loginInReply(st.user)}`;
  // relay.networks send for anyone by their address, as a login does.
  if (!owners || st.relayNetwork || !LOGIN_LISTENERS.has(st.listener)) return undefined;
  return `<${address}>: Sender address rejected: not logged in`;
}

/**
 * The refusal of MAIL FROM:<address> by the binding when auth.enforce_sender_login is on. Off, a mismatch is logged
 * (`sender login mismatch`) and the mail goes on, so an admin can see whom enforcing would refuse before turning it on.
 */
export function senderLoginRefusal(rt: Runtime, st: SessionState, address: string, log: Logger): AccessRefusal | undefined {
  const text = senderLoginMismatch(rt, st, address);
  if (!text) return undefined;
  if (rt.config.auth.enforce_sender_login) return { code: 553, enhanced: '5.7.1', text, reason: REASON };
  log.info('sender login mismatch (not enforced)', { ...refusalFields(st, address, []), would_reply: `553 5.7.1 ${text}` });
  return undefined;
}
