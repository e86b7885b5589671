// The rules on the client's HELO/EHLO name: access.helo_deny, judged at HELO, and access.helo_required_fqdn, judged
// at each RCPT. Both leave alone the clients the admin vouches for: relay.networks, access.allow_ips, logged-in users.
import net from 'node:net';
import type { SessionState } from '../hooks/transaction.ts';
import type { Runtime } from '../runtime.ts';
import type { AccessRefusal } from './envelope-access.ts';

/** The name each session gave at its last HELO/EHLO as sent: the session and smtp-server keep it lower-cased. */
const namesAsSent = new WeakMap<SessionState, string>();

export function noteHeloName(st: SessionState, name: string): void {
  namesAsSent.set(st, name);
}

function exempt(st: SessionState): boolean {
  return st.trusted || st.allowlisted;
}

/** access.helo_deny: whether the name matches one of its patterns and the client is not exempt. */
export function heloDenied(rt: Runtime, st: SessionState, name: string): boolean {
  return !exempt(st) && rt.policy.heloDeny.some((re) => re.test(name));
}

/** A label as Postfix's valid_hostname takes it: letters, digits, `_` and inner hyphens, at most 63. */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i;

function validHostName(name: string): boolean {
  return name.length <= 255 && name.split('.').every((l) => LABEL.test(l)) && /[^0-9.]/.test(name);
}

/**
 * What is wrong with a HELO name, as Postfix judges it: `invalid` (not a host name, address or address literal) or
 * `not-fqdn` (no dot, or a bare address); undefined for a fully-qualified name or a valid `[address]` literal. One
 * trailing dot is dropped first, as Postfix does.
 */
export function heloNameProblem(name: string): 'invalid' | 'not-fqdn' | undefined {
  if (name.startsWith('[')) {
    const inner = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(name)?.[1];
    return inner && net.isIP(inner) ? undefined : 'invalid';
  }
  const test = name.endsWith('.') && !name.endsWith('..') ? name.slice(0, -1) : name;
  const valid = validHostName(test);
  if (!valid && !net.isIP(test)) return 'invalid';
  return valid && test.includes('.') ? undefined : 'not-fqdn';
}

/**
 * access.helo_required_fqdn, for a RCPT: put off from the HELO itself, as Postfix's smtpd_delay_reject does, so that
 * a client that logs in after its EHLO is exempt as it should be, and the refusal's log line names the sender and
 * recipient whose mail it stopped. The session stays open: a new HELO with a proper name mends it.
 */
export function heloRefusal(rt: Runtime, st: SessionState): AccessRefusal | undefined {
  if (!rt.config.access.helo_required_fqdn || exempt(st) || !st.helo) return undefined;
  const name = namesAsSent.get(st) ?? st.helo;
  const problem = heloNameProblem(name);
  if (problem === 'invalid') return { code: 501, enhanced: '5.5.2', text: `<${name}>: Helo command rejected: Invalid name`, reason: 'access.helo_required_fqdn' };
  if (problem === 'not-fqdn') return { code: 504, enhanced: '5.5.2', text: `<${name}>: Helo command rejected: need fully-qualified hostname`, reason: 'access.helo_required_fqdn' };
  return undefined;
}
