// The links in a delivery report's notice, and whether its MTA could have written each. A notice is not scored, and
// a spam's words need a link to sell anything: an MTA's notice links nowhere but to its provider's help pages and to
// what a remote server's reply it quotes gives, so a link to anywhere else makes the report ordinary mail, scored whole.

/** The help pages the big providers' own notices link to: Gmail's ("Learn more", and the addresses in its replies). */
const PROVIDER_HELP_HOSTS = new Set(['support.google.com']);

/** A link a reader's mail program makes of text: a URL with its scheme, or a host name starting `www.`. */
const TEXT_LINK = /\b(?:https?|ftps?):\/\/[^\s<>"'`]+|(?<![\w.@-])www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>"'`]*/gi;

/** The links a reader's mail program makes of the notice's text. */
export function textLinks(text: string): string[] {
  return text.match(TEXT_LINK) ?? [];
}

/**
 * The host a link leads to, as a browser reads it; '' when it leads to none (a `data:` or `javascript:` link, a
 * relative one) or to none this reading can tell: an HTML notice's link still holding a named reference is one whose
 * reference the notice's reader decodes and this reading does not know (`&quest;` is `?` to a browser, which makes
 * `https://cheap.example&quest;@support.google.com/` lead to cheap.example).
 */
export function linkHost(link: string): string {
  if (/&[a-z][a-z0-9]*;/i.test(link)) return '';
  const absolute = /^www\./i.test(link) ? `http://${link}` : link.startsWith('//') ? `http:${link}` : link;
  try {
    return new URL(absolute).hostname.toLowerCase();
  } catch {
    return '';
  }
}

/** White space collapsed, so a quoted reply folded over lines still holds the link it quotes. */
function collapsed(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/**
 * The first of `links` that neither a provider's help page nor `replies` (the remote servers' replies the report
 * quotes: its Diagnostic-Code fields, or a plain-text notice's reply lines) accounts for, as `host` (or the link
 * itself when it leads to no host); undefined when all are accounted for.
 */
export function unexplainedLink(links: string[], replies: string): string | undefined {
  const quoted = collapsed(replies);
  for (const link of links) {
    const host = linkHost(link);
    if (PROVIDER_HELP_HOSTS.has(host)) continue;
    // Cut at the notice's line end, a quoted link is the start of the reply's.
    if (host && quoted.includes(link)) continue;
    return host || link.slice(0, 60);
  }
  return undefined;
}
