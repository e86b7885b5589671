// Text from bytes in the charset a message names, with the fallbacks mail clients use. The Bayes tokenizer reads
// every text part and header through it, and MIME parameters in RFC 2231 form name their charset too.
import { TextDecoder } from 'node:util';

// Charset names come from the sender, so the cache of decoders is keyed by the name as TextDecoder reads it (lower
// case, ASCII whitespace trimmed), holds only names shaped like an Encoding Standard label (those Node knows have at
// most 19 characters of [a-z0-9._:-]; 40 leaves room), and is emptied when full. Keyed by the raw name and never
// emptied, it kept every name of every message for the life of the gateway: a 512 KB Subject of encoded words in
// made-up charsets added some 25,000 keys, and a `charset=` of 500 KB kept 500 KB.
const decoders = new Map<string, TextDecoder | null>();
const MAX_DECODERS = 512;
const LABEL_SHAPE = /^[a-z0-9._:-]{1,40}$/;

/** `label` as TextDecoder looks it up: lower case, without leading and trailing ASCII whitespace. */
function normalLabel(label: string): string {
  const low = label.toLowerCase();
  let from = 0;
  let to = low.length;
  while (from < to && isAsciiSpace(low.charCodeAt(from))) from++;
  while (to > from && isAsciiSpace(low.charCodeAt(to - 1))) to--;
  return low.slice(from, to);
}

function isAsciiSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13;
}

function decoderFor(charset: string): TextDecoder | null {
  const label = normalLabel(charset);
  if (!LABEL_SHAPE.test(label)) return null;
  let d = decoders.get(label);
  if (d === undefined) {
    d = newDecoder(label);
    if (decoders.size >= MAX_DECODERS) decoders.clear();
    decoders.set(label, d);
  }
  return d;
}

/**
 * A decoder for `label`, or null when Node has none. A refused label costs a thrown error, and its stack trace
 * (captured for nothing) was most of the 7 µs each of the 25,000 made-up charsets of a hostile Subject cost.
 */
function newDecoder(label: string): TextDecoder | null {
  const depth = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try { return new TextDecoder(label, { fatal: false }); } catch { return null; } finally { Error.stackTraceLimit = depth; }
}

/** Whether Node can read text in `charset` (an Encoding Standard label); what it cannot, decodeCharset leaves as bytes. */
export function knowsCharset(charset: string): boolean {
  return decoderFor(charset) !== null;
}

/**
 * Turns bytes held as a latin1 string into text in the given charset. Text that says nothing of its charset, or
 * says UTF-8, yet is not UTF-8 is read as Windows-1252, as mail clients read it: 8-bit mail of the 1990s and 2000s
 * and many spam tools send Latin text that way, and read as UTF-8 each accented letter became U+FFFD, so
 * `café` and `cafe` and `caf` + any other letter were all one token, `caf\ufffd`.
 */
export function decodeCharset(bin: string, charset: string): string {
  // Pure ASCII reads the same in every charset we meet but the 7-bit ISO-2022 ones (escape sequences) and UTF-16
  // (NUL bytes); skip the copy.
  if (!/[\x00\x1b\x80-\xff]/.test(bin)) return bin;
  const d = decoderFor(charset || 'utf-8');
  if (!d) return bin;
  const bytes = Buffer.from(bin, 'latin1');
  const text = d.decode(bytes);
  // U+FFFD that the bytes did not spell (EF BF BD) marks bytes that are not UTF-8.
  if (d.encoding === 'utf-8' && text.includes('\ufffd') && !bin.includes('\xef\xbf\xbd')) return windows1252.decode(bytes);
  return text;
}

const windows1252 = new TextDecoder('windows-1252');

