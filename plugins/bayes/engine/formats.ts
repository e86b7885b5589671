// MailEnable's two dictionary formats, TAB (our own on-disk format too, in tab-file.ts) and XML, read and written.
import { Dictionary } from './dictionary.ts';
import { fromTab, toTab, type Malformed } from './tab-file.ts';

export { fromTab, toTab, type Malformed };

export type DictFormat = 'tab' | 'xml';

/** The format a file name implies, as MailEnable decides it: `.xml` is XML, anything else TAB. */
export function formatOf(path: string): DictFormat {
  return path.toLowerCase().endsWith('.xml') ? 'xml' : 'tab';
}

/** Tokens never hold whitespace; a foreign dictionary's token that does is made safe rather than dropped. */
function safeToken(t: string): string {
  return /[\t\r\n]/.test(t) ? t.replace(/[\t\r\n]+/g, '_') : t;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_m, e: string) => {
    const map: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return map[e.toLowerCase()];
  });
}

/** XML: `<ELEMENTS><ENTRIES W="ham messages" B="spam messages"><E W="ham" B="spam">token</E>…</ENTRIES></ELEMENTS>`. */
export function toXml(d: Dictionary): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', '<ELEMENTS>', `<ENTRIES W="${d.nham}" B="${d.nspam}">`];
  for (const e of d.entries()) out.push(`<E W="${e.ham}" B="${e.spam}">${escapeXml(safeToken(e.token))}</E>`);
  out.push('</ENTRIES>', '</ELEMENTS>');
  return out.join('\n') + '\n';
}

function attr(tag: string, name: string): number {
  const m = new RegExp(`\\b${name}\\s*=\\s*["']?(\\d+)`, 'i').exec(tag);
  return m ? Number(m[1]) : 0;
}

/** Whether every B= and W= attribute of an entry's tag holds a whole number. */
function countsAreWhole(tag: string): boolean {
  for (const m of tag.matchAll(/\b[BW]\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]*))/gi)) {
    if (!/^\d+$/.test(m[1] ?? m[2] ?? m[3])) return false;
  }
  return true;
}

/**
 * Reads MailEnable's XML. An `<E>` entry that is not `<E …>token</E>` with whole-number counts is passed over and
 * counted in `malformed` (its place given as the entry's number, 1-based); a missing count is 0.
 */
export function fromXml(text: string, malformed?: Malformed): Dictionary {
  const d = new Dictionary();
  const head = /<ENTRIES\b[^>]*>/i.exec(text);
  if (!head) throw new Error('not an XML dictionary: no <ENTRIES> element');
  d.nham = attr(head[0], 'W');
  d.nspam = attr(head[0], 'B');
  // Every entry's start, so that one the full pattern does not match is noticed instead of silently lost.
  const re = /<E\b([^>]*)>(?:([^<]*)<\/E>)?/gi;
  let m: RegExpExecArray | null;
  let n = 0;
  while ((m = re.exec(text))) {
    n++;
    const counts = m[1];
    if (m[2] === undefined || !countsAreWhole(counts)) {
      if (malformed && !malformed.count++) malformed.first = n;
      continue;
    }
    d.add(safeToken(unescapeXml(m[2])), attr(counts, 'B'), attr(counts, 'W'));
  }
  return d;
}

/**
 * The dictionary as the bytes of a file in `format`. TAB keeps the linear model's weights unless `forMailEnable`
 * (MailEnable's own three fields only); XML never has them.
 */
export function serialize(d: Dictionary, format: DictFormat, forMailEnable = false): Buffer {
  return format === 'xml' ? Buffer.from(toXml(d), 'utf8') : toTab(d, !forMailEnable);
}

/** A dictionary from the bytes of a file in `format`; lines or entries passed over are counted in `malformed`. */
export function deserialize(data: Buffer, format: DictFormat, malformed?: Malformed): Dictionary {
  return format === 'xml' ? fromXml(data.toString('utf8'), malformed) : fromTab(data, malformed);
}
