// Header text as mail clients show it: RFC 2047 encoded words decoded in their charsets. The Bayes tokenizer and
// the gateway's fallback MIME reader both read a Subject through it, so the two agree on what it says.
import { decodeCharset } from './charset.ts';

/** Quoted-printable escapes (`=41`) and soft line breaks, each escape as the byte it names (a latin1 character). */
export function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Decodes RFC 2047 encoded words (`=?utf-8?B?...?=`) in a header value; whitespace between two words goes. */
export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?*]+)(?:\*[^?]*)?\?([BbQq])\?([^?]*)\?=/g, (_m, cs: string, enc: string, data: string) => {
      const bin = enc === 'B' || enc === 'b'
        ? Buffer.from(data, 'base64').toString('latin1')
        : decodeQuotedPrintable(data.replace(/_/g, ' '));
      return decodeCharset(bin, cs);
    });
}
