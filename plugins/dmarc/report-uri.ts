// The destinations a DMARC record's rua= names (RFC 7489 6.2, 6.4): mailto: URIs, each with an optional size limit.
import { recordTags } from './policy-record.ts';

/** One mailto: destination of a report. */
export interface ReportAddress {
  /** The URI as the record wrote it, for log lines. */
  uri: string;
  address: string;
  /** The address's domain, lower case. */
  domain: string;
  /** The largest report this destination takes (`!10m`), in bytes; undefined when it sets none. */
  maxBytes?: number;
}

/** A URI we do not mail, and why. */
export interface UnusedUri { uri: string; why: string }

/**
 * Destinations looked at per record. RFC 7489 6.2 lets a receiver limit them (to two at least); a record listing
 * dozens would make every report that many messages.
 */
export const MAX_URIS = 5;

// RFC 7489 6.4: a count, then an optional unit, each a power of two.
const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
const SIZE_SUFFIX = /!(\d{1,15})([kmgt]?)$/i;
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/** What a record's text says under `tag` (names compared without case; the first of a name wins), or undefined. */
export function recordTag(record: string, tag: string): string | undefined {
  return recordTags(record).get(tag);
}

/** One URI of the list as a destination, or why it is none. */
function destination(text: string): ReportAddress | UnusedUri {
  const uri = text.trim();
  const size = SIZE_SUFFIX.exec(uri);
  const bare = size ? uri.slice(0, size.index) : uri;
  const maxBytes = size ? Number(size[1]) * UNITS[size[2].toLowerCase()] : undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(bare)?.[1].toLowerCase();
  if (scheme !== 'mailto') return { uri, why: scheme ? `${scheme}: is not a scheme we send reports to (mailto: only)` : 'not a URI' };
  let address: string;
  try {
    // Headers after `?` are the sender's to choose, not the record's.
    address = decodeURIComponent(bare.slice('mailto:'.length).split('?')[0]);
  } catch {
    return { uri, why: 'malformed percent-encoding' };
  }
  if (!ADDRESS.test(address)) return { uri, why: 'not a plain ASCII address' };
  const at = address.lastIndexOf('@');
  const domain = address.slice(at + 1).toLowerCase();
  return { uri, address: `${address.slice(0, at)}@${domain}`, domain, ...(maxBytes !== undefined ? { maxBytes } : {}) };
}

/** The mailto: destinations of a rua= value, at most MAX_URIS, and the URIs left unused with the reason. */
export function reportAddresses(rua: string): { addresses: ReportAddress[]; unused: UnusedUri[] } {
  const addresses: ReportAddress[] = [];
  const unused: UnusedUri[] = [];
  for (const text of rua.split(',').map((u) => u.trim()).filter(Boolean)) {
    const d = destination(text);
    if ('why' in d) unused.push(d);
    else if (addresses.length >= MAX_URIS) unused.push({ uri: d.uri, why: `more than ${MAX_URIS} destinations` });
    else if (!addresses.some((a) => a.address === d.address)) addresses.push(d);
  }
  return { addresses, unused };
}
