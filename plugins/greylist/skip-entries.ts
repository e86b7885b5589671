// What an entry of each skip list must look like. An entry that can never match (an address among domains, a `*`
// the matcher does not read) passed check-config before and exempted nothing: mail the admin meant to let through
// got 451. Each problem says what to write instead.
// A label may hold combining marks after its first letter: Devanagari's vowel signs, Thai's tone marks (`भारत`).
const LABEL = '[\\p{L}\\p{N}_](?:[\\p{L}\\p{M}\\p{N}_-]*[\\p{L}\\p{M}\\p{N}_])?';
const DOMAIN = new RegExp(`^(?:${LABEL}\\.)*${LABEL}$`, 'u');
const LOCAL_PART = /^[^\s@]+$/;

// Composed first, as UTS 46 and the matcher read it: `mu\u0308ller.example` is `müller.example`.
const isDomain = (d: string) => d.length <= 253 && DOMAIN.test(d.normalize('NFC'));

/**
 * The problem with `entry` as a domain of `key` (`example.org`, or `.example.org` for its subdomains), if any.
 * `addressHint` says where an address belongs instead.
 */
function domainProblem(entry: string, addressHint: string): string | undefined {
  const e = entry.trim();
  if (e.includes('@')) return `${JSON.stringify(entry)} is an address, not a domain: ${addressHint}`;
  if (e.includes('*')) {
    const base = e.replace(/^[*.]+/, '');
    return `${JSON.stringify(entry)}: a * matches nothing here; write .${base || 'example.org'} for every subdomain of ${base || 'a domain'} (and ${base || 'example.org'} for the domain itself)`;
  }
  if (!isDomain(e.startsWith('.') ? e.slice(1) : e)) return `${JSON.stringify(entry)} is not a domain name (example.org, or .example.org for its subdomains)`;
  return undefined;
}

/** An entry of skip_recipient_domains. */
export function recipientDomainProblem(entry: string): string | undefined {
  return domainProblem(entry, 'list it in skip_recipients (or its local part alone, as postmaster@, for every domain)');
}

/** An entry of skip_sender_domains. */
export function senderDomainProblem(entry: string): string | undefined {
  const at = entry.lastIndexOf('@');
  const domain = entry.slice(at + 1).trim();
  return domainProblem(entry, `give its domain${domain ? ` (${domain})` : ''}; one sender address cannot be exempted, since anyone can write it`);
}

/** An entry of skip_client_names: a host name, or `.example.org` for every name under it. */
export function clientNameProblem(entry: string): string | undefined {
  return domainProblem(entry, 'give a host name, or .example.org for every name under it');
}

/** An entry of skip_recipients: an address (`postmaster@example.com`), or a local part at every domain (`postmaster@`). */
export function recipientProblem(entry: string): string | undefined {
  const e = entry.trim();
  const at = e.lastIndexOf('@');
  if (at === 0) return `${JSON.stringify(entry)} names no local part: for a whole domain use skip_recipient_domains (${e.slice(1) || 'example.org'})`;
  if (at < 0) return `${JSON.stringify(entry)} is not an address: write ${e}@ for that local part at every domain, or ${e}@example.org`;
  const local = e.slice(0, at);
  const domain = e.slice(at + 1);
  if (!LOCAL_PART.test(local) || (domain && !isDomain(domain))) return `${JSON.stringify(entry)} is not an address (postmaster@example.org, or postmaster@ for every domain)`;
  return undefined;
}
