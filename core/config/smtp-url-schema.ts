// A smarthost URL as the relay reads it (new URL, then its percent-decoded user and password), so that check-config
// refuses what would fail at start: `smtp://user:pa/ss@host` passed its pattern and then stopped `moat start`.
import net from 'node:net';
import { s, type Issue } from './schema.ts';

/** Why `v` cannot be read as smtp(s)://[user:pass@]host[:port], or undefined. The value is never quoted: it may hold a password. */
export function smtpUrlProblem(v: string): string | undefined {
  let u: URL;
  try { u = new URL(v); } catch { return unbracketedIpv6(v) ?? "is not a URL the relay can read (a '/', '@', ':' or '%' in the user or password must be percent-encoded, '/' as %2F)"; }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') return 'must start with smtp:// or smtps://';
  if (!u.hostname) return 'names no host';
  if (u.pathname !== '' && u.pathname !== '/') return "has a path after the host (a '/' in the password must be written %2F)";
  try { decodeURIComponent(u.username); decodeURIComponent(u.password); } catch { return 'has a user or password whose percent-encoding is broken'; }
  return undefined;
}

/**
 * The advice for an IPv6 host written bare (`smtp://::1:2525`) or as an SMTP address literal (`[IPv6:::1]`), which a
 * URL cannot read: it takes the address in brackets alone. Only the scheme, host and port are shown, never a login.
 */
function unbracketedIpv6(v: string): string | undefined {
  const scheme = /^(smtps?):\/\//i.exec(v);
  if (!scheme) return undefined;
  const rest = v.slice(scheme[0].length);
  const hostPort = rest.slice(rest.lastIndexOf('@') + 1).split('/')[0];
  const literal = /^\[IPv6:([^\]]*)\](?::(\d+))?$/i.exec(hostPort);
  // `::1:2525` reads both ways; a port is what people write after a host, so that reading goes first.
  const split = /^(.*):(\d+)$/.exec(hostPort);
  const bare = literal || hostPort.startsWith('[') ? undefined : split && net.isIPv6(split[1]) ? split : net.isIPv6(hostPort) ? [hostPort, hostPort] : undefined;
  const [host, port] = literal ? [literal[1], literal[2]] : bare ? [bare[1], bare[2]] : [];
  if (!host || !net.isIPv6(host)) return undefined;
  return `cannot be read: put an IPv6 host in brackets: ${scheme[1].toLowerCase()}://[${host}]${port ? `:${port}` : ''}`;
}

export function checkSmtpUrl(v: string, path: string, issues: Issue[]): void {
  const problem = smtpUrlProblem(v);
  if (problem) issues.push({ path, message: problem });
}

export const smtpUrl = s.checked(s.string({ pattern: /^smtps?:\/\//, patternName: 'smtp://[user:pass@]host:port or smtps://…' }), checkSmtpUrl);

/**
 * Credentials on a connection that can never be encrypted: the relay client sends them over TLS only
 * (core/relay/smtp-client.ts), so every message would be deferred with "not sending credentials … without TLS" until
 * its lifetime ran out, and only `moat doctor` would have said why. Refused where start, reload and check-config all
 * look. `url` is the target's URL (none for MX delivery); `user` the login given beside it. No value is quoted.
 */
export function checkCredentialsHaveTls(target: { url?: string; starttls: string; user?: string; pass?: string }, at: string, issues: Issue[]): void {
  if (target.starttls !== 'off') return;
  let fromUrl = false;
  if (target.url !== undefined) {
    if (smtpUrlProblem(target.url)) return; // named already, and nothing sound to judge
    const u = new URL(target.url);
    if (u.protocol === 'smtps:') return;
    fromUrl = u.username !== '' || u.password !== '';
  }
  const keys = (['user', 'pass'] as const).filter((k) => target[k] !== undefined);
  if (!fromUrl && !keys.length) return;
  const where = fromUrl ? 'the URL holds credentials' : `${keys.join(' and ')} ${keys.length > 1 ? 'are' : 'is'} set`;
  issues.push({
    path: at ? `${at}.starttls` : 'starttls',
    message: `is off, but ${where}: the relay sends credentials over TLS only, so every message to a server that asks for a login would be deferred until it expires; set starttls: required (or opportunistic), or use smtps://`,
  });
}
