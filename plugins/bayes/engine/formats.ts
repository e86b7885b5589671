// MailEnable's two dictionary formats, TAB (our own on-disk format too, in tab-file.ts) and XML, read and written.
import { Dictionary } from './dictionary.ts';
import { fromTab, toTab } from './tab-file.ts';

export { fromTab, toTab };

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

export function fromXml(text: string): Dictionary {
  const d = new Dictionary();
  const head = /<ENTRIES\b[^>]*>/i.exec(text);
  if (!head) throw new Error('not an XML dictionary: no <ENTRIES> element');
  d.nham = attr(head[0], 'W');
  d.nspam = attr(head[0], 'B');
  const re = /<E\b([^>]*)>([^<]*)<\/E>/gi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) d.add(safeToken(unescapeXml(m[2])), attr(m[1], 'B'), attr(m[1], 'W'));
  return d;
}

/**
 * The dictionary as the bytes of a file in `format`. TAB keeps the linear model's weights unless `forMailEnable`
 * (MailEnable's own three fields only); XML never has them.
 */
export function serialize(d: Dictionary, format: DictFormat, forMailEnable = false): Buffer {
  return format === 'xml' ? Buffer.from(toXml(d), 'utf8') : toTab(d, !forMailEnable);
}

/** A dictionary from the bytes of a file in `format`. */
export function deserialize(data: Buffer, format: DictFormat): Dictionary {
  return format === 'xml' ? fromXml(data.toString('utf8')) : fromTab(data);
}
