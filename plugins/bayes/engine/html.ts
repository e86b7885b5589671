// Turns HTML into visible text, its link targets, and (optionally) tag and attribute tokens.

export interface HtmlContent {
  text: string;
  urls: string[];
  /** `tag`, `tag:attr` and a few attribute values (colours, sizes) that spam templates reuse. */
  tags: string[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', euro: '€', pound: '£' };

export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);?/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : ' ';
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

const TAG_RE = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/g;
const ATTR_RE = /([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g;
const KEEP_VALUES = new Set(['color', 'bgcolor', 'size', 'face', 'align', 'border']);

export function htmlToText(html: string, withTags: boolean): HtmlContent {
  const urls: string[] = [];
  const tags: string[] = [];
  // Comments and invisible blocks carry no text a reader sees (spammers hide word salad there).
  const cleaned = html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, ' ');
  const text = cleaned.replace(TAG_RE, (_m, close: string, name: string, attrs: string) => {
    const tag = name.toLowerCase();
    if (!close && attrs) {
      ATTR_RE.lastIndex = 0;
      let a: RegExpExecArray | null;
      while ((a = ATTR_RE.exec(attrs))) {
        const attr = a[1].toLowerCase();
        const value = a[2] ?? a[3] ?? a[4] ?? '';
        if (attr === 'href' || attr === 'src' || attr === 'action') urls.push(decodeEntities(value));
        if (withTags) tags.push(KEEP_VALUES.has(attr) ? `${tag}:${attr}=${value.toLowerCase().slice(0, 20)}` : `${tag}:${attr}`);
      }
    }
    if (withTags && !close) tags.push(tag);
    return tag === 'br' || tag === 'p' || tag === 'div' || tag === 'td' || tag === 'tr' || tag === 'li' ? '\n' : ' ';
  });
  return { text: decodeEntities(text), urls, tags };
}
