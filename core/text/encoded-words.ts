// RFC 2047 encoded words both ways. Decoded: header text as mail clients show it, in the charsets the words name (the
// Bayes tokenizer and the gateway's fallback MIME reader both read a Subject through it, so the two agree on what it
// says). Encoded: text the gateway writes into a header (a plugin's value, a subject tag) that is not ASCII.
import { decodeCharset, knowsCharset } from './charset.ts';
import { isAscii } from './ascii.ts';

/** Quoted-printable escapes (`=41`) and soft line breaks, each escape as the byte it names (a latin1 character). */
export function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

const ENCODED_WORD_IN_TEXT = /=\?([^?*]+)(?:\*[^?]*)?\?([BbQq])\?([^?]*)\?=/g;

/**
 * Decodes RFC 2047 encoded words (`=?utf-8?B?...?=`) in a header value; whitespace between two words goes (§6.2).
 * Adjacent words of one charset are decoded as one byte string, as mail clients do: a sender may cut a character's
 * bytes between two words (`=?UTF-8?B?0J/R?= =?UTF-8?B?kdGC0YA=?=` is `Пётр`), and each half alone is garbage.
 * Words in a charset Node does not know are shown as written (§6.2): their bytes read as Latin-1 were garbage that
 * looked like text (`=?x-unknown?B?5pel?=` as `æ\u0097¥`).
 */
export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  let out = '';
  let last = 0;
  let run: { charset: string; bytes: Buffer[]; from: number; to: number } | undefined;
  const flush = () => {
    if (run) out += knowsCharset(run.charset) ? decodeCharset(Buffer.concat(run.bytes).toString('latin1'), run.charset) : value.slice(run.from, run.to);
    run = undefined;
  };
  for (const m of value.matchAll(ENCODED_WORD_IN_TEXT)) {
    const [word, charset, enc, data] = m;
    const between = value.slice(last, m.index);
    last = m.index + word.length;
    const bytes = enc === 'B' || enc === 'b'
      ? Buffer.from(data, 'base64')
      : Buffer.from(decodeQuotedPrintable(data.replace(/_/g, ' ')), 'latin1');
    // Only whitespace between two encoded words goes; next to other text it stays.
    const joined = run !== undefined && /^\s*$/.test(between);
    if (joined && run!.charset.toLowerCase() === charset.toLowerCase()) { run!.bytes.push(bytes); run!.to = last; continue; }
    // A word shown as written is text, and the space beside it stays.
    const keepSpace = !joined || !knowsCharset(run!.charset) || !knowsCharset(charset);
    flush();
    if (keepSpace) out += between;
    run = { charset, bytes: [bytes], from: m.index, to: last };
  }
  flush();
  return out + value.slice(last);
}

/** Bytes of UTF-8 per encoded word: 45 make 60 characters of base64, and the word stays within RFC 2047's 75. */
const WORD_BYTES = 45;

/**
 * `text` as RFC 2047 encoded words when it is not ASCII (UTF-8, base64), each within 75 characters and cut between
 * characters, separated by spaces, which a reader drops between two encoded words; ASCII text as it is.
 */
export function encodedWords(text: string): string {
  if (isAscii(text)) return text;
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (chunk && Buffer.byteLength(chunk + ch, 'utf8') > WORD_BYTES) { words.push(chunk); chunk = ''; }
    chunk += ch;
  }
  words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}

/** A whole word that a reader decodes (RFC 2047 §5: encoded words stand between spaces). */
const ENCODED_WORD = /^=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=$/;

/**
 * A header value with each run of words beyond ASCII written as encoded words, and its ASCII words (an address,
 * a tag, encoded words already there) left as they are, so that a structured field keeps its syntax where it was
 * ASCII. A reader drops the space between two encoded words: next to one that was already there, that space goes
 * inside ours, so the text reads as it was given.
 */
export function encodeNonAsciiWords(text: string): string {
  if (isAscii(text)) return text;
  // Even indices: words (the first and last may be ''); odd: the spaces and tabs between them.
  const parts = text.split(/([ \t]+)/);
  const encodedAlready = (k: number) => k >= 0 && k < parts.length && ENCODED_WORD.test(parts[k]);
  let out = '';
  for (let k = 0; k < parts.length; k += 2) {
    if (isAscii(parts[k])) {
      out += parts[k] + (parts[k + 1] ?? '');
      continue;
    }
    let run = parts[k];
    let end = k;
    while (end + 2 < parts.length && !isAscii(parts[end + 2])) { run += parts[end + 1] + parts[end + 2]; end += 2; }
    if (encodedAlready(k - 2)) {
      // `out` ends with the space after that word: it moves into the run, and one space separates the two words.
      const space = parts[k - 1];
      out = `${out.slice(0, out.length - space.length)} `;
      run = space + run;
    }
    const after = parts[end + 1] ?? '';
    if (encodedAlready(end + 2)) { run += after; out += `${encodedWords(run)} `; } else out += encodedWords(run) + after;
    k = end;
  }
  return out;
}
