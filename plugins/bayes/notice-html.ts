// How a delivery report's HTML notice is read: the text its reader is shown (which the notice's size limit counts),
// the markup that shows text that count would miss, and the places its markup links to. A notice is not scored, so
// what a reader may see of it must be counted, never less: where a reader and this reading could differ, the text
// is counted or the notice refused.
import { decodeEntities } from './engine/html.ts';

/** Elements whose content no reader shows, read as text up to their end tag (a `<head>` in the body is shown: browsers ignore the tag there). */
const HIDDEN_ELEMENTS = new Set(['style', 'script', 'title']);
/** Attributes whose value a reader shows: an image's alternative text (Outlook shows it in place of images), a tooltip, a field's text, an option's label. */
const SHOWN_ATTRIBUTES = new Set(['alt', 'title', 'value', 'placeholder', 'label']);
/**
 * Elements no MTA writes whose content a reader shows as written, markup and all, or from elsewhere (a `<link>`'s
 * stylesheet, which this reading does not see), or reads by other rules than HTML's (SVG and MathML: a `<style>`
 * there holds markup a reader shows; a `<select>` drops tags).
 */
const RAW_ELEMENTS = new Set(['textarea', 'xmp', 'plaintext', 'noembed', 'noframes', 'noscript', 'iframe', 'object', 'embed', 'link', 'svg', 'math', 'select']);

/** HTML's white space inside a tag (a CR counts: the parser reads it as a line break). */
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';
const isLetter = (c: string | undefined) => !!c && /^[a-z]$/i.test(c);

/** One tag: its name and attributes in lower case, the values as written (references not decoded). */
interface Tag { name: string; end: boolean; attrs: Array<[name: string, value: string]> }

/**
 * The tag opening at `lt` (`<a` or `</a`), read as HTML's tokenizer reads it: a `>` inside a quoted value does not
 * close it, a quote opens a value only after `=`, and an attribute name may start with `=`. Undefined when the tag
 * runs to the end of the notice: a browser drops it and all after it.
 */
function readTag(html: string, lt: number): { tag: Tag; next: number } | undefined {
  const end = html[lt + 1] === '/';
  let i = lt + (end ? 2 : 1);
  const nameStart = i;
  while (i < html.length && !isSpace(html[i]) && html[i] !== '/' && html[i] !== '>') i++;
  const tag: Tag = { name: html.slice(nameStart, i).toLowerCase(), end, attrs: [] };
  for (;;) {
    while (isSpace(html[i]) || html[i] === '/') i++;
    if (i >= html.length) return undefined;
    if (html[i] === '>') return { tag, next: i + 1 };
    const attrStart = i++;
    while (i < html.length && !isSpace(html[i]) && html[i] !== '/' && html[i] !== '>' && html[i] !== '=') i++;
    const name = html.slice(attrStart, i).toLowerCase();
    while (isSpace(html[i])) i++;
    if (html[i] !== '=') { tag.attrs.push([name, '']); continue; }
    i++;
    while (isSpace(html[i])) i++;
    const quote = html[i];
    if (quote === '"' || quote === '\'') {
      const close = html.indexOf(quote, i + 1);
      if (close < 0) return undefined;
      tag.attrs.push([name, html.slice(i + 1, close)]);
      i = close + 1;
    } else {
      const valueStart = i;
      while (i < html.length && !isSpace(html[i]) && html[i] !== '>') i++;
      tag.attrs.push([name, html.slice(valueStart, i)]);
    }
  }
}

/** Where the element `name`'s text, read from `from`, ends: at its end tag (`</style` then space, `/` or `>`), or -1. */
function rawTextEnd(html: string, from: number, name: string): number {
  const close = new RegExp(`</${name}[\\t\\n\\f\\r />]`, 'gi');
  close.lastIndex = from;
  return close.exec(html)?.index ?? -1;
}

/** Where the comment opening at `lt` ends (`-->`, `--!>`, or at once: `<!-->`), or -1. */
function commentEnd(html: string, lt: number): number {
  if (html.startsWith('>', lt + 4)) return lt + 5;
  if (html.startsWith('->', lt + 4)) return lt + 6;
  const close = /--!?>/g;
  close.lastIndex = lt + 4;
  const m = close.exec(html);
  return m ? m.index + m[0].length : -1;
}

/** The attribute text `tag` shows, space-separated. */
function shownAttributes(tag: Tag): string {
  const shown = tag.attrs.filter(([name]) => SHOWN_ATTRIBUTES.has(name)).map(([, value]) => value);
  return shown.length ? ` ${shown.join(' ')} ` : ' ';
}

/** An HTML notice read once: the text it shows, its tags, and what its style elements hold. */
interface Markup {
  /** Text runs and the attribute text tags show, entity references not yet decoded. */
  text: string[];
  tags: Tag[];
  /** The content of each style element, as written (a browser decodes no references there). */
  styles: string[];
}

/**
 * Reads `html` as a browser does where it matters here: a `<` that opens no tag is text; a tag ends at the first `>`
 * outside its quoted values; an unclosed tag, comment or hidden element runs to the end. One pass, each character
 * read a bounded number of times, whatever the markup.
 */
function readMarkup(html: string): Markup {
  const m: Markup = { text: [], tags: [], styles: [] };
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) { m.text.push(html.slice(i)); break; }
    if (lt > i) m.text.push(html.slice(i, lt));
    const next = html[lt + 1];
    if (isLetter(next) || (next === '/' && isLetter(html[lt + 2]))) {
      const read = readTag(html, lt);
      if (!read) break;
      m.tags.push(read.tag);
      m.text.push(shownAttributes(read.tag));
      i = read.next;
      if (read.tag.end || !HIDDEN_ELEMENTS.has(read.tag.name)) continue;
      const close = rawTextEnd(html, i, read.tag.name);
      if (read.tag.name === 'style') m.styles.push(html.slice(i, close < 0 ? html.length : close));
      if (close < 0) break;
      // Its end tag is read as a tag, quoted values and all.
      i = close;
      continue;
    }
    if (html.startsWith('<!--', lt)) {
      const after = commentEnd(html, lt);
      if (after < 0) break;
      m.text.push(' ');
      i = after;
      continue;
    }
    if (next === '!' || next === '?' || next === '/') {
      // A doctype, or what a browser reads as a comment up to the next `>` (`<?xml …>`, `</ 1>`).
      const gt = html.indexOf('>', lt + 2);
      if (gt < 0) break;
      m.text.push(' ');
      i = gt + 1;
      continue;
    }
    m.text.push('<');
    i = lt + 1;
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

/** The CSS of each `style` attribute of `tags`, references decoded as a browser decodes them before reading it. */
function attributeCss(tags: Tag[]): string[] {
  return tags.flatMap((t) => t.attrs.filter(([name]) => name === 'style').map(([, value]) => decodeEntities(value)));
}

/** Where a string in CSS is a place to fetch from, which `markupLinks` reads: `url("…")`, `@import "…"`. */
const FETCHED_STRING = /(?:\burl\(\s*|@import\s+)$/i;
/** A declaration whose strings name fonts, which no reader shows. */
const FONT_DECLARATION = /\s*(?:font|font-family)\s*:/iy;

/**
 * Why `css` may show text this reading does not count, or undefined. Rather than read CSS as a browser would, it
 * refuses what a real MTA's notice never holds and would make the two readings differ: escapes (`cont\65nt`) and
 * comments (an empty one between `content` and its colon), which hide a name from a plain match; generated content
 * (`content:`, `@counter-style`, `attr()`); and any string that names no font and is no URL, since strings are how
 * CSS shows text elsewhere (`quotes`, `list-style-type: "…"`, `hyphenate-character`).
 */
function cssFault(css: string): string | undefined {
  if (css.includes('\\')) return 'a CSS escape';
  if (css.includes('/*')) return 'a CSS comment';
  if (/\bcontent\s*:|@counter-style\b|\battr\s*\(/i.test(css)) return 'CSS generated content';
  // Each declaration's strings, told apart by the `{`, `}` and `;` outside strings, which split CSS at least as
  // finely as a browser splits it.
  let from = 0;
  let isFont: boolean | undefined;
  for (let i = 0; i < css.length; i++) {
    const c = css[i];
    if (c === '{' || c === '}' || c === ';') { from = i + 1; isFont = undefined; continue; }
    if (c !== '"' && c !== '\'') continue;
    const close = css.indexOf(c, i + 1);
    if (close < 0 || /[\n\r\f]/.test(css.slice(i + 1, close))) return 'a CSS string not closed on its line';
    if (isFont === undefined) { FONT_DECLARATION.lastIndex = from; isFont = FONT_DECLARATION.test(css); }
    if (!isFont && !FETCHED_STRING.test(css.slice(Math.max(from, i - 64), i))) return 'a CSS string that is no font name or URL';
    i = close;
  }
  return undefined;
}

/**
 * Why an HTML notice may show text `shownText` does not count, or undefined. No MTA writes these: a conditional
 * comment (Outlook shows what it holds), CSS that shows text (see cssFault) or that could make a hidden element
 * shown, and elements whose content a reader shows as it is written, markup and all, or from elsewhere.
 */
export function hiddenTextIn(html: string): string | undefined {
  if (/<!--\s*\[if\b/i.test(html)) return 'a conditional comment';
  const m = readMarkup(html);
  const raw = m.tags.find((t) => !t.end && RAW_ELEMENTS.has(t.name));
  if (raw) return `a <${raw.name}> element`;
  const styledHidden = m.tags.find((t) => HIDDEN_ELEMENTS.has(t.name) && t.attrs.some(([name]) => name === 'style'));
  if (styledHidden) return `a style attribute on a <${styledHidden.name}> element`;
  // A style element's selectors may reach a style, script or title element, whose text `display` or `all` would show.
  if (m.styles.some((css) => /(?:^|[{;\s])(?:display|all)\s*:/i.test(css))) return 'CSS display rules in a style element';
  for (const css of attributeCss(m.tags)) {
    // A reference this reading does not decode (`&bsol;`) could be any character to a browser.
    if (/&(?:#|[a-z])/i.test(css)) return 'a character reference in a style attribute';
  }
  for (const css of [...m.styles, ...attributeCss(m.tags)]) {
    const fault = cssFault(css);
    if (fault) return fault;
  }
  return undefined;
}

/** Attributes whose value a reader follows or fetches (`data-src`, `xlink:href` alike). */
const LINK_ATTRIBUTE = /(?:^|[-:])(?:href|src|srcset|background|action|formaction|poster|longdesc|lowsrc|dynsrc|cite|data|ping|codebase|archive|manifest)$/;
/** Where CSS fetches from. */
const CSS_LINK = /\burl\(\s*(?:"([^"]*)"|'([^']*)'|([^)]*))\)|@import\s+(?:"([^"]*)"|'([^']*)')/gi;

/** The places `tag` links to: its link attributes, a refresh's target, its style attribute's CSS. */
function tagLinks(tag: Tag): string[] {
  const refresh = tag.name === 'meta' && tag.attrs.some(([n, v]) => n === 'http-equiv' && /^\s*refresh\s*$/i.test(decodeEntities(v)));
  const values = tag.attrs.filter(([name]) => LINK_ATTRIBUTE.test(name) || (refresh && name === 'content')).map(([, v]) => decodeEntities(v));
  return [...values, ...attributeCss([tag]).flatMap(cssLinks)];
}

function cssLinks(css: string): string[] {
  return [...css.matchAll(CSS_LINK)].map((a) => a.slice(1).find((v) => v !== undefined) ?? '');
}

/**
 * Every place the notice's markup links to or fetches from (its tags' attributes, its CSS), as its reader would read
 * it (entity references decoded, the tabs and line breaks a browser drops from a URL dropped), but for mail addresses
 * (`mailto:`), places in the notice (`#…`) and the message's own parts (`cid:`, which only image parts beside it can
 * answer).
 */
export function markupLinks(html: string): string[] {
  const m = readMarkup(html);
  const found = [...m.tags.flatMap(tagLinks), ...m.styles.flatMap(cssLinks)].map((v) => v.replace(/[\t\r\n]/g, '').trim());
  return found.filter((v) => !/^(?:mailto:|cid:|#|$)/i.test(v));
}
