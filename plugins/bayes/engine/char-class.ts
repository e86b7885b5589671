// What each character is to the tokenizer, by its Unicode properties: part of a word, allowed inside one, a mark
// that takes part in word pairs, or a character of the scripts written without spaces between words (CJK), whose
// runs are read as overlapping character pairs. The scanner looks each UTF-16 unit up in a table built once, so
// no regex runs per character; only characters outside the BMP (emoji, rare Han) are classed by regex, and cached.

/** Letters, digits, combining marks and currency signs: what words are made of. */
export const WORD = 1;
/**
 * Allowed inside a word but never at its end: `'` `.` `_` `-` (e-mail, u.s., don't), the typographic apostrophe `’`
 * (don’t, which the tokenizer reads as don't) and the zero-width joiners.
 */
export const INNER = 2;
/** A punctuation mark or symbol that takes part in word pairs (`phone~:`, `,~when`), though never a token alone. */
export const MARK = 4;
/** A letter of Han, Hiragana, Katakana or Hangul. */
export const CJK = 8;
/** Half of a surrogate pair: the character is classed by `classAt`. */
export const SURROGATE = 16;

/** `’`, which word processors put where the writer typed `'`. */
export const TYPOGRAPHIC_APOSTROPHE = 0x2019;

const LETTER_RE = /[\p{L}\p{N}\p{M}]/u;
const CJK_SCRIPT_RE = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Hangul}]/u;
const WORD_RE = /[\p{L}\p{N}\p{M}\p{Sc}]/u;
// Quotes, brackets and connectors only separate, as ASCII's `"` `[` `_` between words do; the rest of punctuation
// and symbols (… — • · ، 。 ™ © → and emoji) are marks, as ASCII's `. , ! - + = *` are.
const MARK_RE = /[\p{Po}\p{Pd}\p{So}\p{Sm}]/u;
// Variation selectors only choose a glyph (the emoji form of ❤); a word of their own would be noise.
const GLYPH_CHOICE_RE = /\p{Variation_Selector}/u;

function asciiClass(ch: string): number {
  let k = 0;
  if ('abcdefghijklmnopqrstuvwxyz0123456789$'.includes(ch)) k |= WORD;
  if ("'._-".includes(ch)) k |= INNER;
  if (',.!?:;%@()*=&+/-'.includes(ch)) k |= MARK;
  return k;
}

/** The class of one character outside ASCII, by the same rules as the table's. */
function classOf(ch: string): number {
  const cp = ch.codePointAt(0)!;
  if (cp === 0x200c || cp === 0x200d || cp === TYPOGRAPHIC_APOSTROPHE) return INNER;
  if (GLYPH_CHOICE_RE.test(ch)) return 0;
  if (LETTER_RE.test(ch) && CJK_SCRIPT_RE.test(ch)) return CJK;
  if (WORD_RE.test(ch)) return WORD;
  if (MARK_RE.test(ch)) return MARK;
  return 0;
}

/** The class of each UTF-16 unit; upper-case ASCII is 0, as the scanner reads lower-cased text. */
export const CHAR_CLASS = buildTable();

// Testing 65,536 characters one by one costs a few hundred ms at every start; a regex over all of them at once,
// run by run, a few ms.
function buildTable(): Uint8Array {
  const table = new Uint8Array(65536);
  const units = new Uint16Array(65536);
  for (let c = 0; c < 65536; c++) units[c] = c >= 0xd800 && c <= 0xdfff ? 0 : c;
  let bmp = '';
  for (let c = 0; c < 65536; c += 4096) bmp += String.fromCharCode(...units.subarray(c, c + 4096));
  const each = (re: RegExp, mark: (c: number) => void): void => {
    const g = new RegExp(`${re.source}+`, 'gu');
    for (let m; (m = g.exec(bmp)) !== null;) for (let c = m.index; c < m.index + m[0].length; c++) mark(c);
  };
  each(MARK_RE, (c) => { table[c] = MARK; });
  each(WORD_RE, (c) => { table[c] = WORD; });
  each(CJK_SCRIPT_RE, (c) => { if (table[c] === WORD) table[c] = CJK; });
  each(GLYPH_CHOICE_RE, (c) => { table[c] = 0; });
  table[0x200c] = INNER;
  table[0x200d] = INNER;
  table[TYPOGRAPHIC_APOSTROPHE] = INNER;
  for (let c = 0; c < 0x80; c++) table[c] = c >= 0x41 && c <= 0x5a ? 0 : asciiClass(String.fromCharCode(c));
  for (let c = 0xd800; c <= 0xdfff; c++) table[c] = SURROGATE;
  return table;
}

const astral = new Map<number, number>();
const MAX_ASTRAL = 4096;

/**
 * The class of the character whose first unit is at `s[i]`, a surrogate: a character outside the BMP, two units wide
 * when its class is not 0. A lone surrogate, and a pair that classes as 0, are read past one unit at a time.
 */
export function classAt(s: string, i: number): number {
  const cp = s.codePointAt(i)!;
  if (cp < 0x10000) return 0;
  let k = astral.get(cp);
  if (k === undefined) {
    k = classOf(String.fromCodePoint(cp));
    if (astral.size >= MAX_ASTRAL) astral.clear();
    astral.set(cp, k);
  }
  return k;
}
