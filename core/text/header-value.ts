// A message's own header value as text. The gateway holds header bytes one latin1 character per byte; an SMTPUTF8
// client writes its headers in raw UTF-8 (RFC 6532), and older 8-bit mail in a single-byte charset. The reading itself
// is decodeCharset's (charset.ts), as the parsed view reads the Subject and the Bayes tokenizer every header, so that
// they read one field alike; what this adds is a value cut short inside a UTF-8 character. Read by the user-lists
// plugin (From addresses) and the rules plugin (every header its criteria read, and the Subject it tags).
import { isUtf8 } from 'node:buffer';
import { isAscii } from './ascii.ts';
import { decodeCharset } from './charset.ts';

/**
 * `bytes` (a header value, one latin1 character per byte) as text: UTF-8 when the bytes are valid UTF-8, else
 * Windows-1252, as mail clients read undeclared 8-bit text (Latin-1 but for 0x80–0x9F, which Latin-1 makes invisible
 * control characters and Windows-1252 `€`, `–`, curly quotes). With `truncated` (the caller cut the value short) up
 * to three bytes at the end that begin a UTF-8 character the cut split are dropped when the rest is UTF-8 beyond
 * ASCII, so that the cut does not turn a UTF-8 value into Windows-1252. A string holding characters beyond U+00FF is
 * text already and is returned as it is, as is ASCII.
 */
export function headerValueText(bytes: string, truncated = false): string {
  if (isAscii(bytes) || /[^\x00-\xff]/.test(bytes)) return bytes;
  const buf = Buffer.from(bytes, 'latin1');
  const split = truncated && !isUtf8(buf) ? splitCharacterAtEnd(buf) : 0;
  // The rest must hold UTF-8 beyond ASCII: `café` in Latin-1, cut after its `é`, ends in what could begin a character.
  const head = buf.subarray(0, buf.length - split);
  if (split && isUtf8(head) && head.some((b) => b >= 0x80)) return head.toString('utf8');
  return decodeCharset(bytes, 'utf-8');
}

/** headerValueText of the first `maxBytes` bytes of `bytes` only, a character the cut splits left out. */
export function headerValueTextWithin(bytes: string, maxBytes: number): string {
  const truncated = bytes.length > maxBytes;
  return headerValueText(truncated ? bytes.slice(0, maxBytes) : bytes, truncated);
}

/** How many bytes at the end of `buf` are the start of a UTF-8 character whose other bytes are missing; 0 if none. */
function splitCharacterAtEnd(buf: Buffer): number {
  for (let n = 1; n <= 3 && n <= buf.length; n++) {
    const b = buf[buf.length - n];
    if (b >= 0x80 && b <= 0xbf) continue; // a continuation byte: the lead byte is further back
    const needs = b >= 0xf5 ? 0 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 ? 2 : 0;
    return needs > n ? n : 0;
  }
  return 0;
}
