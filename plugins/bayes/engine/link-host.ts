// The host a link points to, in one spelling however the sender wrote it, so a dictionary learns one token per
// site: spam writes the same host in capitals, with percent escapes (`ex%61mple.com`), in Unicode or punycode, or as
// an IP address in decimal (`http://3232235777/`) or hex, to slip past lists of bad hosts.

// Names made only of these characters, and not all digits and dots, need no parsing beyond lower case.
const PLAIN_NAME = /^[a-z0-9-]+(?:\.[a-z0-9-]+)+\.?$/;
const NUMERIC_NAME = /^[0-9.]+$|^0x/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
const WEB_SCHEMES = new Set(['http', 'https', 'ftp']);

/** What a link points to: a host name (lower case, ASCII, no trailing dot), an IP address, or nothing to learn. */
export type LinkTarget = { host: string } | { ip: true } | null;

/**
 * The target of `raw`, a link from a text (`http://…`, `www.…`) or an attribute (`href`, `src`, `action`).
 * Links to a part of the same message (`cid:`), scripts, relative paths and names without a dot have no host.
 */
export function linkTarget(raw: string): LinkTarget {
  const authority = authorityOf(raw.trim());
  if (authority === null) return null;
  if (authority.startsWith('[')) return { ip: true };
  let name = authority.toLowerCase();
  if (!PLAIN_NAME.test(name) || NUMERIC_NAME.test(name)) {
    // The WHATWG parser is what browsers follow: percent escapes, IDN to punycode, IPv4 in any number form.
    const parsed = URL.parse(`http://${authority}/`);
    if (!parsed) return null;
    name = parsed.hostname;
    if (name.startsWith('[')) return { ip: true };
  }
  while (name.endsWith('.')) name = name.slice(0, -1);
  if (IPV4.test(name)) return { ip: true };
  return name.includes('.') ? { host: name } : null;
}

/** The `host:port` part of a link (user info left out), or null for a link with none. */
function authorityOf(link: string): string | null {
  let rest: string;
  const scheme = SCHEME.exec(link);
  if (scheme) {
    const name = scheme[1].toLowerCase();
    if (name === 'mailto') return domainOfAddress(link.slice(scheme[0].length));
    if (!WEB_SCHEMES.has(name)) return null;
    rest = link.slice(scheme[0].length).replace(/^[/\\]*/, '');
  } else if (/^[/\\]{2}/.test(link)) {
    rest = link.slice(2);
  } else if (/^www\./i.test(link)) {
    rest = link;
  } else {
    return null;
  }
  // Browsers end the authority at a backslash as at a slash.
  const end = rest.search(/[/\\?#]/);
  let authority = end < 0 ? rest : rest.slice(0, end);
  authority = authority.slice(authority.lastIndexOf('@') + 1);
  if (!authority.startsWith('[')) {
    const colon = authority.indexOf(':');
    if (colon >= 0) authority = authority.slice(0, colon);
  }
  return authority || null;
}

function domainOfAddress(target: string): string | null {
  const end = target.search(/[?,;\s]/);
  const address = end < 0 ? target : target.slice(0, end);
  const at = address.lastIndexOf('@');
  return at >= 0 && at < address.length - 1 ? address.slice(at + 1) : null;
}
