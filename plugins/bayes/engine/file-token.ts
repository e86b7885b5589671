// What a token may hold: nothing a dictionary file would write differently from how the tokenizer made it.

/** Whitespace, or a surrogate (one of a pair, or a lone one): a token holding either is looked at closer. */
const LOOK_CLOSER = /[\s\ud800-\udfff]/;
const WHITESPACE_RUN = /\s+/g;

/**
 * `token` as a dictionary file holds it and reads it back: each run of whitespace as one `_`, a lone surrogate as
 * U+FFFD, as the TAB writer writes them. Tokens taken from text as it comes (a tag's attribute, an attachment's
 * name, a boundary) held line breaks and spaces: `<font face="Arial\nBlack">` gave one token from a Maildir copy
 * (LF) and another over SMTP (CRLF), which the file then wrote as one line each, the same, and read back as a
 * token the tokenizer never made again.
 */
export function fileToken(token: string): string {
  return LOOK_CLOSER.test(token) ? token.replace(WHITESPACE_RUN, '_').toWellFormed() : token;
}

const UNDERSCORE = '_';

/**
 * A token as an older dictionary file holds it, made the token the tokenizer now emits for the same text. Files
 * written before tokens lost their whitespace hold it as it came (`arial black`), and their writer had made each run
 * of line breaks one `_` beside it: `Arial \r\nBlack` was written `arial _black`, a folded `Arial\r\n Black`
 * `arial_ black`, where the tokenizer now gives `arial_black`. So a run of whitespace, with the underscores on either
 * side of it, becomes one `_`; a token without whitespace is left as it is. One pass, whatever the token holds.
 */
export function olderFileToken(token: string): string {
  if (!LOOK_CLOSER.test(token)) return token;
  let out = '';
  let k = 0;
  while (k < token.length) {
    const c = token[k];
    if (c !== UNDERSCORE && !/\s/.test(c)) { out += c; k++; continue; }
    let end = k;
    let spaced = false;
    for (; end < token.length && (token[end] === UNDERSCORE || /\s/.test(token[end])); end++) {
      if (token[end] !== UNDERSCORE) spaced = true;
    }
    out += spaced ? UNDERSCORE : token.slice(k, end);
    k = end;
  }
  return out.toWellFormed();
}
