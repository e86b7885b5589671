// A smarthost URL as the relay reads it (new URL, then its percent-decoded user and password), so that check-config
// refuses what would fail at start: `smtp://user:pa/ss@host` passed its pattern and then stopped `moat start`.
import { s, type Issue } from './schema.ts';

/** Why `v` cannot be read as smtp(s)://[user:pass@]host[:port], or undefined. The value is never quoted: it may hold a password. */
export function smtpUrlProblem(v: string): string | undefined {
  let u: URL;
  try { u = new URL(v); } catch { return "is not a URL the relay can read (a '/', '@', ':' or '%' in the user or password must be percent-encoded, '/' as %2F)"; }
  if (u.protocol !== 'smtp:' && u.protocol !== 'smtps:') return 'must start with smtp:// or smtps://';
  if (!u.hostname) return 'names no host';
  if (u.pathname !== '' && u.pathname !== '/') return "has a path after the host (a '/' in the password must be written %2F)";
  try { decodeURIComponent(u.username); decodeURIComponent(u.password); } catch { return 'has a user or password whose percent-encoding is broken'; }
  return undefined;
}

export function checkSmtpUrl(v: string, path: string, issues: Issue[]): void {
  const problem = smtpUrlProblem(v);
  if (problem) issues.push({ path, message: problem });
}

export const smtpUrl = s.checked(s.string({ pattern: /^smtps?:\/\//, patternName: 'smtp://[user:pass@]host:port or smtps://…' }), checkSmtpUrl);
