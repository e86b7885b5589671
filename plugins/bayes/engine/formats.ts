// MailEnable's two dictionary formats, TAB (our own on-disk format too) and XML, read and written.
import { Dictionary } from './dictionary.ts';

export type DictFormat = 'tab' | 'xml';

/** The format a file name implies, as MailEnable decides it: `.xml` is XML, anything else TAB. */
export function formatOf(path: string): DictFormat {
  return path.toLowerCase().endsWith('.xml') ? 'xml' : 'tab';
}

/** Tokens never hold whitespace; a foreign dictionary's token that does is made safe rather than dropped. */
function safeToken(t: string): string {
  return /[\t\r\n]/.test(t) ? t.replace(/[\t\r\n]+/g, '_') : t;
}

/** TAB: a first line `<spam messages>\t<ham messages>`, then one `token\t<spam>\t<ham>` per line. */
export function toTab(d: Dictionary): string {
  const lines: string[] = [`${d.nspam}\t${d.nham}`];
  for (const e of d.entries()) lines.push(`${safeToken(e.token)}\t${e.spam}\t${e.ham}`);
  return lines.join('\n') + '\n';
}

export function fromTab(text: string): Dictionary {
  const d = new Dictionary();
  let pos = 0;
  let first = true;
  const len = text.length;
  while (pos < len) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = len;
    const end = text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    if (end > pos) {
      const t2 = text.lastIndexOf('\t', end - 1);
      const t1 = t2 > pos ? text.lastIndexOf('\t', t2 - 1) : -1;
      if (first) {
        const parts = text.slice(pos, end).split('\t');
        if (parts.length < 2 || !/^\d+$/.test(parts[0].trim()) || !/^\d+$/.test(parts[1].trim())) {
          throw new Error('not a TAB dictionary: the first line must hold the spam and ham message counts');
        }
        d.nspam = Number(parts[0]);
        d.nham = Number(parts[1]);
        first = false;
      } else if (t1 >= pos) {
        const spam = Number(text.slice(t1 + 1, t2));
        const ham = Number(text.slice(t2 + 1, end));
        if (Number.isFinite(spam) && Number.isFinite(ham)) d.add(text.slice(pos, t1), spam, ham);
      }
    }
    pos = nl + 1;
  }
  if (first) throw new Error('not a TAB dictionary: the file is empty');
  return d;
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

export function serialize(d: Dictionary, format: DictFormat): string {
  return format === 'xml' ? toXml(d) : toTab(d);
}

export function deserialize(text: string, format: DictFormat): Dictionary {
  return format === 'xml' ? fromXml(text) : fromTab(text);
}
