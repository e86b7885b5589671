// The addresses a rule names for mail of its own (copy_to, notify), checked as a client's RCPT TO would be.
import { isAscii, recipientAddressProblem, type Issue } from '../../core/index.ts';

/**
 * The addresses of a `copy_to` or a `notify`: one or a list, each one the core would take from a plugin for every
 * message, or one of `keywords` (notify's `recipients`). The core checks them again per message; here a typo stops
 * the load instead of becoming a warning on every match.
 */
export function namedAddresses(value: unknown, path: string, issues: Issue[], keywords: readonly string[] = []): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) { issues.push({ path, message: 'expected an address or a list of addresses' }); return []; }
  const out: string[] = [];
  for (const [i, a] of list.entries()) {
    const p = Array.isArray(value) ? `${path}[${i}]` : path;
    if (typeof a === 'string' && keywords.includes(a)) { out.push(a); continue; }
    // No IP literal is ours at load, so those are refused here too: a copy goes to a domain.
    const why = typeof a !== 'string' ? 'expected an address such as archive@example.org' : recipientAddressProblem(a, () => false);
    if (why) { issues.push({ path: p, message: why }); continue; }
    // Such an address may only go with mail whose sender announced SMTPUTF8: the copy would be refused for most mail.
    if (!isAscii(a as string)) { issues.push({ path: p, message: 'an address beyond ASCII cannot be given to mail sent without SMTPUTF8' }); continue; }
    out.push(a as string);
  }
  return out;
}
