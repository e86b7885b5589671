// Turns HTML into visible text, its link targets, and (optionally) tag and attribute tokens.
import { withoutSpans } from '../../../core/index.ts';
import { eachNameValue } from './name-value.ts';
import { fileToken } from './file-token.ts';

export interface HtmlContent {
  text: string;
  urls: string[];
  /** `tag`, `tag:attr` and a few attribute values (colours, sizes) that spam templates reuse. */
  tags: string[];
}

// A Map, not an object literal: `&constructor;` looked up in an object found Object's own constructor and put the
// words of its source text ("function Object() { [native code] }") into the message.
const ENTITIES = new Map(Object.entries({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', euro: '€', pound: '£' }));

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);?/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : ' ';
    }
    return ENTITIES.get(e.toLowerCase()) ?? m;
  });
}

// Each piece below is found by searching forward only: the obvious global regexes (/<!--[\s\S]*?-->/g,
// /<(\/?)(\w+)([^>]*)>/g) restart at every `<` of a long run of openers that never close and rescan to the end,
// so their time grows with the square of the HTML (seen: 4 s for 80 KB of "<a").
const TAG_START = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)/g;
const ATTR_NAME = /[a-zA-Z-]+/g;
const ATTR_VALUE = /\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/y;
const HIDDEN_BLOCK = /<(script|style|head)\b/gi;
const BLOCK_END: Record<string, RegExp> = { script: /<\/script\s*>/gi, style: /<\/style\s*>/gi, head: /<\/head\s*>/gi };
const KEEP_VALUES = new Set(['color', 'bgcolor', 'size', 'face', 'align', 'border']);

/** `html` with each script, style and head block, from its start tag to its end tag, replaced by a space. */
function withoutHiddenBlocks(html: string): string {
  let out = '';
  let from = 0;
  // Where each kind's next end tag was found (-1: none after where it was last looked for), so no stretch is
  // searched twice.
  const ends = new Map<string, { at: number; length: number }>();
  HIDDEN_BLOCK.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = HIDDEN_BLOCK.exec(html))) {
    const name = m[1].toLowerCase();
    const after = m.index + m[0].length;
    let end = ends.get(name);
    if (!end || (end.at >= 0 && end.at < after)) {
      const re = BLOCK_END[name];
      re.lastIndex = after;
      const e = re.exec(html);
      end = { at: e ? e.index : -1, length: e ? e[0].length : 0 };
      ends.set(name, end);
    }
    if (end.at < 0) continue;
    out += html.slice(from, m.index) + ' ';
    from = end.at + end.length;
    HIDDEN_BLOCK.lastIndex = from;
  }
  return out + html.slice(from);
}

/** Replaces each tag (`<name attrs>` or `</name …>`) by what `onTag` returns; stops at the first `<` left unclosed. */
function replaceTags(html: string, onTag: (close: string, name: string, attrs: string) => string): string {
  let out = '';
  let from = 0;
  TAG_START.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TAG_START.exec(html))) {
    const gt = html.indexOf('>', m.index + m[0].length);
    if (gt < 0) break;
    out += html.slice(from, m.index) + onTag(m[1], m[2], html.slice(m.index + m[0].length, gt));
    from = gt + 1;
    TAG_START.lastIndex = from;
  }
  return out + html.slice(from);
}

export function htmlToText(html: string, withTags: boolean): HtmlContent {
  const urls: string[] = [];
  const tags: string[] = [];
  // Comments and invisible blocks carry no text a reader sees (spammers hide word salad there).
  const cleaned = withoutHiddenBlocks(withoutSpans(html, '<!--', '-->', ' '));
  const text = replaceTags(cleaned, (close, name, attrs) => {
    const tag = name.toLowerCase();
    if (!close && attrs) {
      eachNameValue(attrs, ATTR_NAME, ATTR_VALUE, (attrName, a) => {
        const attr = attrName.toLowerCase();
        const value = a[1] ?? a[2] ?? a[3] ?? '';
        if (attr === 'href' || attr === 'src' || attr === 'action') urls.push(decodeEntities(value));
        // Whitespace made `_` before the cut, so that a value's CRLF and LF (SMTP and Maildir) keep the same characters.
        if (withTags) tags.push(KEEP_VALUES.has(attr) ? `${tag}:${attr}=${fileToken(value.toLowerCase()).slice(0, 20)}` : `${tag}:${attr}`);
      });
    }
    if (withTags && !close) tags.push(tag);
    return tag === 'br' || tag === 'p' || tag === 'div' || tag === 'td' || tag === 'tr' || tag === 'li' ? '\n' : ' ';
  });
  return { text: decodeEntities(text), urls, tags };
}
