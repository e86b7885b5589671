// The text a reader of an HTML part sees, for messages too large for mailparser's conversion (see mime-parse.ts
// HTML_TO_TEXT_MAX_SIZE): one pass over the HTML that gives the event loop a turn every 256 KB.
import { nextTurn } from '../text/next-turn.ts';

/** HTML read in pieces of this size between turns of the event loop. */
const HTML_SLICE = 256 * 1024;
/** The longest entity reference (`&CounterClockwiseContourIntegral;`) with room to spare: a piece never ends inside one. */
const LONGEST_REF = 40;
/** Pieces of text joined into one string at a time. */
const PIECES_JOINED = 256;

const BLOCK_TAGS = new Set(['address', 'article', 'aside', 'blockquote', 'br', 'dd', 'div', 'dl', 'dt', 'footer', 'form',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'table', 'td',
  'th', 'tr', 'ul']);
/**
 * Elements whose content is not text a reader sees. Not `head`: a browser ends it at `<body>` when `</head>` is
 * missing, and dropping up to a `</head>` that never comes would hide the whole message.
 */
const HIDDEN_CONTENT = new Set(['script', 'style', 'title', 'template']);
// The Latin-1 references, U+00A0 to U+00FF in order (accented letters are common in European mail), then others.
const LATIN1_REFS = ('nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 '
  + 'sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring '
  + 'AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times '
  + 'Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute '
  + 'ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc '
  + 'uuml yacute thorn yuml').split(' ');
const NAMED_REFS = new Map<string, string>([
  ...LATIN1_REFS.map((name, i): [string, string] => [name, String.fromCharCode(0xa0 + i)]),
  // After the Latin-1 ones: a soft hyphen splits a word only on paper, so `v&shy;i&shy;a&shy;gra` reads as one word.
  ['shy', ''], ['amp', '&'], ['lt', '<'], ['gt', '>'], ['quot', '"'], ['apos', "'"], ['zwnj', ''], ['zwj', ''],
  ['euro', '€'], ['trade', '™'], ['hellip', '…'], ['mdash', '—'], ['ndash', '–'], ['lsquo', '‘'], ['rsquo', '’'],
  ['ldquo', '“'], ['rdquo', '”'], ['bull', '•'],
]);
const REF_RE = /&(?:#x([0-9a-f]{1,6})|#(\d{1,7})|([a-z][a-z0-9]{1,7}));?/gi;

function decodeRefs(text: string): string {
  return text.replace(REF_RE, (ref, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    // Names are case-sensitive (`&Eacute;`, `&eacute;`), but browsers also read `&AMP;` and `&NBSP;`.
    if (name !== undefined) return NAMED_REFS.get(name) ?? NAMED_REFS.get(name.toLowerCase()) ?? ref;
    const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ref;
  });
}

/**
 * The text a reader of the HTML sees, for a message too large for mailparser's conversion: tags dropped (block
 * elements end a line), script, style and title content dropped, the common entity references decoded, runs of
 * white space made one. One pass, with a turn of the event loop every 256 KB. Rougher than mailparser's (no link
 * targets or table layout), which is enough for the word-based checks that read it; links come from the HTML.
 */
export async function htmlText(html: string): Promise<string> {
  // The text comes in millions of small pieces (a 40 MB part), joined a few hundred at a time: pieces kept longer
  // outlive young-generation collections and pile up in the old generation, which cost 200 MB more than the text.
  const done: string[] = [];
  let out: string[] = [];
  let i = 0;
  let pause = HTML_SLICE;
  while (i < html.length) {
    if (out.length >= PIECES_JOINED) { done.push(out.join('')); out = []; }
    if (i >= pause) { await nextTurn(); pause = i + HTML_SLICE; }
    const lt = html.indexOf('<', i);
    // A `<` that opens no tag is text, as in a browser.
    const opensTag = lt >= 0 && /[a-z/!?]/i.test(html[lt + 1] ?? '');
    const textEnd = Math.min(lt < 0 ? html.length : opensTag ? lt : lt + 1, pieceEnd(html, i));
    if (textEnd > i) { out.push(decodeRefs(html.slice(i, textEnd)).replace(/\s+/g, ' ')); i = textEnd; continue; }
    // An unclosed comment or tag runs to the end of the HTML, as in a browser.
    if (html.startsWith('<!--', lt)) { const close = html.indexOf('-->', lt + 4); i = close < 0 ? html.length : close + 3; continue; }
    const gt = html.indexOf('>', lt + 1);
    if (gt < 0) break;
    const name = /^<(\/?)([a-z][a-z0-9]*)/i.exec(html.slice(lt, Math.min(gt, lt + 16)));
    i = gt + 1;
    if (!name) continue;
    const tag = name[2].toLowerCase();
    if (BLOCK_TAGS.has(tag)) out.push('\n');
    else if (!name[1] && HIDDEN_CONTENT.has(tag)) {
      const close = new RegExp(`</${tag}\\s*>`, 'gi');
      close.lastIndex = i;
      i = close.exec(html) ? close.lastIndex : html.length;
    }
  }
  done.push(out.join(''));
  return done.join('').replace(/ ?\n[\n ]*/g, '\n').trim();
}

/** Where the piece of text from `from` ends: HTML_SLICE on, moved back before an entity reference it would cut. */
function pieceEnd(html: string, from: number): number {
  const end = from + HTML_SLICE;
  if (end >= html.length) return html.length;
  const amp = html.slice(end - LONGEST_REF, end).lastIndexOf('&');
  return amp < 0 ? end : end - LONGEST_REF + amp;
}
