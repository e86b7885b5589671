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
