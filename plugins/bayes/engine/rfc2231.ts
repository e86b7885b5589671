// A MIME parameter's text when the sender split or encoded it as RFC 2231 allows (`filename*0*=utf-8''caf%C3%A9`,
// `filename*1=.pdf`), as mail clients show it: an attachment's name is a token, and the name that spam tools write
// in pieces is the same name the recipient sees whole.
import { decodeCharset } from './charset.ts';

// More sections than this are not a name any client would show; reading stops there.
const MAX_SECTIONS = 64;
const EXTENDED = /^([^']*)'[^']*'(.*)$/s;

/**
 * The text of parameter `name` (lower case) among `params` as parseMimeValue gives them; '' when absent. Where a
 * sender gives both, the RFC 2231 form wins, as in Thunderbird and as RFC 6266 asks of HTTP: it is the one that can say
 * its charset, the plain one being there for older readers.
 */
export function paramText(params: Record<string, string>, name: string): string {
  const extended = params[`${name}*`];
  if (extended !== undefined) return decodeExtended(extended);
  return sections(params, name) || (params[name] ?? '');
}

/** The value of `name*0`, `name*1*`, … joined, each `*` section percent-decoded in the first one's charset. */
function sections(params: Record<string, string>, name: string): string {
  let charset = '';
  let bytes = '';
  for (let i = 0; i < MAX_SECTIONS; i++) {
    const encoded = params[`${name}*${i}*`];
    const raw = encoded === undefined ? params[`${name}*${i}`] : undefined;
    if (encoded === undefined && raw === undefined) break;
    if (encoded !== undefined) {
      let value = encoded;
      if (i === 0) {
        const m = EXTENDED.exec(encoded);
        if (m) { charset = m[1]; value = m[2]; }
      }
      bytes += percentDecoded(value);
    } else {
      bytes += raw;
    }
  }
  return bytes && charset ? decodeCharset(bytes, charset) : bytes;
}

/** `charset'language'%XX…` decoded; without the charset part, only percent-decoded. */
function decodeExtended(value: string): string {
  const m = EXTENDED.exec(value);
  if (!m) return percentDecoded(value);
  return decodeCharset(percentDecoded(m[2]), m[1] || 'us-ascii');
}

/** `%XX` escapes as the bytes they stand for, held as a latin1 string (what decodeCharset reads). */
function percentDecoded(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}
