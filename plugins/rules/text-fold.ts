// The one form in which the text criteria compare a rule's words with a message's text, so that a spelling the reader
// cannot see does not slip past a rule: `Gro\u0308\u00dfe` (decomposed, as macOS writes names), `Рас\u00adсылка` (a soft
// hyphen), `vi\u200bagra` (a zero-width space) and `ｖｉａｇｒａ` (fullwidth) all read as the rule's plain word.
// Only the criteria see this form: logs, notices and templates show the text as it came.
import { isAscii } from '../../core/index.ts';

/**
 * Characters Unicode says a renderer shows as nothing when it cannot draw them (DerivedCoreProperties,
 * Default_Ignorable_Code_Point): soft hyphen, zero-width space, joiner and non-joiner, word joiner, BOM, bidi marks,
 * embeddings, overrides and isolates, variation selectors, tags, the Hangul fillers.
 */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
const HAS_IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;

/**
 * `text` in match form: the invisible characters taken out, then NFKC, which composes what NFD took apart and folds
 * compatibility forms into the plain ones (fullwidth and mathematical letters, ligatures such as `ﬁ`, superscripts,
 * the no-break space). ASCII text is its own match form and is returned as it is, unscanned again.
 */
export function matchForm(text: string): string {
  if (isAscii(text)) return text;
  const folded = text.replace(IGNORABLE, '').normalize('NFKC');
  // NFKC turns the halfwidth Hangul filler into another ignorable one.
  return HAS_IGNORABLE.test(folded) ? folded.replace(IGNORABLE, '') : folded;
}

/**
 * A per-message memo of matchForm: a body ten rules read is folded once (NFKC of 1 MB of Cyrillic text takes some
 * 5 ms). Keyed by the string itself; a text asked again is the same string, found without reading it.
 */
export function matchFormMemo(): (text: string) => string {
  const seen = new Map<string, string>();
  return (text) => {
    let folded = seen.get(text);
    if (folded === undefined) { folded = matchForm(text); seen.set(text, folded); }
    return folded;
  };
}

/** The characters a regular expression reads as syntax (`-` inside a class). */
const REGEX_SYNTAX = /[\\^$.|?*+()[\]{}-]/g;

/**
 * A regular expression's source in match form, so that it meets text in match form: each character beyond ASCII
 * folded as text is, and what a literal character folds to kept literal: `…` becomes `\.\.\.` (three dots, not any
 * three characters) and `⑴` becomes `\(1\)` (no group). ASCII, the whole syntax, is left as written; an escape written
 * in ASCII (`\u00ad`) names a character the text no longer holds.
 */
export function regexMatchForm(source: string): string {
  if (isAscii(source)) return source;
  let out = '';
  // A character and the combining marks after it fold together: `o` and U+0308 compose into `ö`.
  for (const [piece] of source.replace(IGNORABLE, '').matchAll(/\P{M}\p{M}*|\p{M}+/gu)) {
    if (isAscii(piece)) { out += piece; continue; }
    const folded = matchForm(piece);
    if (piece.charCodeAt(0) < 0x80) { out += folded; continue; }
    // `\ｄ` is the literal character; its fold must not become the escape `\d`.
    if (endsInEscape(out)) out = out.slice(0, -1);
    out += folded.replace(REGEX_SYNTAX, '\\$&');
  }
  return out;
}

/** Whether `s` ends in a backslash that escapes what follows (an odd run of them). */
function endsInEscape(s: string): boolean {
  let n = 0;
  while (n < s.length && s[s.length - 1 - n] === '\\') n++;
  return n % 2 === 1;
}
