// How a delivery report's HTML notice is read: the text its reader is shown (which the notice's size limit counts),
// the markup that shows text that count would miss, and the places its markup links to. A notice is not scored, so
// what a reader may see of it must be counted, never less: where a reader and this reading could differ, the text
// is counted or the notice refused.
import { decodeEntities } from './engine/html.ts';

/** Elements whose content no reader shows (a `<head>` in the body is shown: browsers ignore the tag there). */
const HIDDEN_ELEMENT = /^<(style|script|title|template)\b/;
/** Attributes whose value a reader shows: an image's alternative text (Outlook shows it in place of images), a tooltip, a field's text. */
const SHOWN_ATTRIBUTE = /\b(?:alt|title|value|placeholder)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;

/** The attribute text `tag` (its markup between `<` and `>`) shows, space-separated. */
function shownAttributes(tag: string): string {
  const out: string[] = [];
  for (const m of tag.matchAll(SHOWN_ATTRIBUTE)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out.length ? ` ${out.join(' ')} ` : ' ';
}

/** An HTML notice read once: the text it shows, its tags' markup, and what its hidden elements hold. */
interface Markup {
  /** Text runs and the attribute text tags show, entity references not yet decoded. */
  text: string[];
  /** Each tag's markup between `<` and `>`. */
  tags: string[];
  /** The content of each style element. */
  styles: string[];
}

/**
 * Reads `html` as a browser does where it matters here: a `<` that opens no tag is text; an unclosed tag, comment
 * or hidden element runs to the end. One pass, each character read at most twice, whatever the markup.
 */
function readMarkup(html: string): Markup {
  const lower = html.toLowerCase();
  const m: Markup = { text: [], tags: [], styles: [] };
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    const opensTag = lt >= 0 && /[a-z/!?]/i.test(html[lt + 1] ?? '');
    const textEnd = lt < 0 ? html.length : opensTag ? lt : lt + 1;
    if (textEnd > i) { m.text.push(html.slice(i, textEnd)); i = textEnd; continue; }
    const hidden = HIDDEN_ELEMENT.exec(lower.slice(lt, lt + 10));
    const close = html.startsWith('<!--', lt) ? '-->' : hidden ? `</${hidden[1]}` : '>';
    const at = lower.indexOf(close, lt + 1);
    if (at < 0) {
      if (hidden?.[1] === 'style') m.styles.push(html.slice(lt));
      break;
    }
    if (close === '>') {
      const tag = html.slice(lt + 1, at);
      m.tags.push(tag);
      m.text.push(shownAttributes(tag));
      i = at + 1;
      continue;
    }
    if (hidden?.[1] === 'style') m.styles.push(html.slice(lt, at));
    m.text.push(' ');
    i = html.indexOf('>', at) + 1 || html.length;
  }
  return m;
}

/**
 * The text an HTML notice shows: tags, comments, style, script and title left out (with the alternative text and
 * titles the tags show kept), entity references decoded, each run of white space made one space.
 */
export function shownText(html: string): string {
  return decodeEntities(readMarkup(html).text.join('')).replace(/\s+/g, ' ').trim();
}

/**
 * Why an HTML notice may show text `shownText` does not count, or undefined. No MTA writes these: a conditional
 * comment (Outlook shows what it holds), CSS generated content, and elements whose content a reader shows as it is
 * written, markup and all, or from elsewhere.
 */
export function hiddenTextIn(html: string): string | undefined {
  if (/<!--\s*\[if\b/i.test(html)) return 'a conditional comment';
  const m = readMarkup(html);
  const css = [...m.styles, ...m.tags.flatMap((t) => [...t.matchAll(STYLE_ATTRIBUTE)].map((a) => a[1] ?? a[2] ?? a[3] ?? ''))];
  if (css.some((c) => /\bcontent\s*:/i.test(c))) return 'CSS generated content';
  const raw = m.tags.map((t) => /^(textarea|xmp|plaintext|noembed|noframes|iframe|object|embed)\b/i.exec(t)).find(Boolean);
  if (raw) return `a <${raw[1].toLowerCase()}> element`;
  return undefined;
}

const STYLE_ATTRIBUTE = /\bstyle\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;
/** Attributes whose value a reader follows or fetches. */
const LINK_ATTRIBUTE = /\b(?:href|src|srcset|background|action|formaction|poster|longdesc|lowsrc|dynsrc|cite|data)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;
/** Where CSS fetches from. */
const CSS_LINK = /\burl\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*))\)|@import\s+(?:"([^"]*)"|'([^']*)')/gi;

/**
 * Every place the notice's markup links to or fetches from (its tags' attributes, its CSS), as its reader would read
 * it (entity references decoded, the tabs and line breaks a browser drops from a URL dropped), but for mail addresses
 * (`mailto:`), places in the notice (`#…`) and the message's own parts (`cid:`, which only image parts beside it can
 * answer).
 */
export function markupLinks(html: string): string[] {
  const m = readMarkup(html);
  const found = [...m.tags.flatMap((t) => [...t.matchAll(LINK_ATTRIBUTE), ...t.matchAll(CSS_LINK)]), ...m.styles.flatMap((c) => [...c.matchAll(CSS_LINK)])]
    .map((a) => decodeEntities(a.slice(1).find((v) => v !== undefined) ?? '').replace(/[\t\r\n]/g, '').trim());
  return found.filter((v) => !/^(?:mailto:|cid:|#|$)/i.test(v));
}
