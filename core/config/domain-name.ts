// Whether a configured name is a domain name as the gateway compares them: `domains` entries and route keys.
import { domainToASCII, domainToUnicode } from 'node:url';

/** Why `entry` is no domain name (a message to follow it), or undefined when it is one. */
export function notADomain(entry: string): string | undefined {
  const parts = entry.split(/[\s,;]+/).filter(Boolean);
  if (/[,;]/.test(entry) || (parts.length > 1 && parts.every((x) => x.includes('.')))) {
    return `is several names in one string; write a list: domains: [${parts.join(', ')}]`;
  }
  if (/\s/.test(entry)) return 'has a space in it; a domain name has none';
  if (entry.includes('@')) return `is not a domain name; write the part after the @ (${entry.slice(entry.lastIndexOf('@') + 1) || 'example.com'})`;
  if (entry.startsWith('.') || entry.startsWith('*')) return 'is a pattern; list each domain itself (a leading dot or * does not cover subdomains here)';
  const name = entry.endsWith('.') ? entry.slice(0, -1) : entry;
  // An internationalized name is kept as written (SMTPUTF8 clients send it so); it must be the canonical Unicode form.
  const ascii = /^[\x21-\x7e]*$/.test(name) ? name.toLowerCase() : domainToASCII(name);
  if (!ascii) return 'is not a domain name';
  if (ascii !== name.toLowerCase() && domainToUnicode(ascii) !== name.toLowerCase()) return `is not in a domain name's normal form; write ${domainToUnicode(ascii)}`;
  if (ascii.length > 253) return 'is longer than a domain name can be (253 characters)';
  const labels = ascii.split('.');
  for (const label of labels) {
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) return `is not a domain name (label ${JSON.stringify(label)}: letters, digits and inner hyphens, 1 to 63 of them)`;
    if (label.startsWith('xn--') && domainToUnicode(label) === label) return `is not a domain name (${label} is not a valid xn-- label)`;
  }
  if (/^\d+$/.test(labels[labels.length - 1])) return 'is an address, not a domain name';
  return undefined;
}
