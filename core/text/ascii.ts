// Whether text is plain ASCII: the test behind SMTPUTF8 (addresses), RFC 2047 (header text) and 7bit/8bit choices.

/** True when every character of `text` is ASCII (U+0000–U+007F). */
export function isAscii(text: string): boolean {
  return !/[^\x00-\x7f]/.test(text);
}
