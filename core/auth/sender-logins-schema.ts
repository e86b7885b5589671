// The config values of the sender-login binding (auth.sender_logins, auth.enforce_sender_login): a file that can be
// read, and an enforcement that has a map to enforce, refused by check-config, start and reload alike.
import { s, type Issue } from '../config/schema.ts';
import { senderLoginsProblem } from './sender-logins.ts';

/** auth.sender_logins: an absolute path to a readable map (core/auth/sender-logins.ts). */
export const senderLoginsFile = s.checked(s.string({ minLength: 1 }), (v, p, is) => {
  const problem = senderLoginsProblem(v);
  if (problem) is.push({ path: p, message: problem });
});

/** Enforcing without a map would have no login own any address: every logged-in sender refused with a 553. */
export function senderLoginIssues(auth: { sender_logins?: string; enforce_sender_login: boolean }, p: string, is: Issue[]): void {
  if (auth.enforce_sender_login && auth.sender_logins === undefined) {
    is.push({ path: `${p ? `${p}.` : ''}enforce_sender_login`, message: 'needs auth.sender_logins: without it no login owns any address, and every logged-in sender would be refused' });
  }
}
