// Parameters of a structured MIME header value (`multipart/mixed; boundary="b 1"; charset=utf-8`), read in one
// pass. Every reader of MIME in the gateway (virus stripping, link defanging, the Bayes tokenizer) uses this one,
// so a boundary one of them sees is the boundary all of them see.
// `mimeParamText` writes a parameter back (link defanging rebuilds a Content-Type) so that this reader reads it whole.
//
// Lenient on purpose: a parameter counts wherever a name is followed by `=`, even without the `;` before it, and
// a quoted value that never closes runs to the end. Mail clients read such headers, so a filter that refused to
// would be reading a different message than the recipient does. When a name comes twice, the first one counts in
// `params`; `all` keeps every one, for a check that must judge each (a file name, see `paramValues`).

import { decodeCharset } from '../text/charset.ts';
import { decodeWords } from '../text/encoded-words.ts';

export interface MimeValue {
  /** Lower-cased `type/subtype` (or the disposition: `attachment`, `inline`); '' when absent. */
  type: string;
  /** Parameters by lower-cased name (`filename*` and `name*0` keep their stars), values unquoted and unescaped. */
  params: Record<string, string>;
  /** Every parameter in order, a name given twice listed twice (lower-cased names, values as in `params`). */
  all: Array<[name: string, value: string]>;
}

function isNameChar(c: number): boolean {
  // letters, digits, _ * . -
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 42 || c === 46 || c === 45;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/** Splits a structured header value into its type and parameters. */
export function parseMimeValue(value: string): MimeValue {
  const n = value.length;
  let i = 0;
  while (i < n && isSpace(value.charCodeAt(i))) i++;
  const typeStart = i;
  // The type ends at the first `;` or space: `multipart/mixed boundary=x` still has its boundary.
  while (i < n && value.charCodeAt(i) !== 59 && !isSpace(value.charCodeAt(i))) i++;
  const type = value.slice(typeStart, i).toLowerCase();
  const params: Record<string, string> = Object.create(null);
  const all: Array<[string, string]> = [];
  while (i < n) {
    if (!isNameChar(value.charCodeAt(i))) { i++; continue; }
    const nameStart = i;
    while (i < n && isNameChar(value.charCodeAt(i))) i++;
    const name = value.slice(nameStart, i).toLowerCase();
    let j = i;
    while (j < n && isSpace(value.charCodeAt(j))) j++;
    if (value.charCodeAt(j) !== 61 /* = */) continue;
    j++;
    while (j < n && isSpace(value.charCodeAt(j))) j++;
    let v: string;
    if (value.charCodeAt(j) === 34 /* " */) {
      // A quoted string: backslash escapes the next character (RFC 2045 / 5322 quoted-pair).
      let out = '';
      let from = ++j;
      while (j < n && value.charCodeAt(j) !== 34) {
        if (value.charCodeAt(j) === 92 /* \ */ && j + 1 < n) { out += value.slice(from, j); from = ++j; }
        j++;
      }
      v = out + value.slice(from, j);
      j++;
    } else {
      const start = j;
      while (j < n && value.charCodeAt(j) !== 59 /* ; */ && !isSpace(value.charCodeAt(j))) j++;
      v = value.slice(start, j);
    }
    if (!(name in params)) params[name] = v;
    all.push([name, v]);
    i = j;
  }
  return { type, params, all };
}

/** One parameter of a structured header value, such as `boundary` or `filename`. */
export function mimeParam(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined;
  return parseMimeValue(value).params[name.toLowerCase()];
}

// A value that is not an RFC 2045 token (tspecials, space, controls, 8-bit) must be quoted.
const NEEDS_QUOTES = /[^\x21-\x7e]|[()<>@,;:\\"/[\]?=]/;

/** `name=value` as a parameter to write into a header, the value quoted and escaped when it has to be. */
export function mimeParamText(name: string, value: string): string {
  return NEEDS_QUOTES.test(value) || value === '' ? `${name}="${value.replace(/["\\]/g, '\\$&')}"` : `${name}=${value}`;
}

const CHARSET_AND_LANGUAGE = /^([^']*)'[^']*'(.*)$/s;

/**
 * Parameter `name` (lower case) as RFC 2231 writes what a plain value cannot hold, decoded to text:
 * `filename*=utf-8''caf%C3%A9.pdf`, or split into sections (`filename*0*=iso-8859-1''r%E9sum`, `filename*1=.pdf`),
 * each `*` section percent-decoded in the first one's charset. Undefined when the parameter has no such form; mail
 * clients then show the plain one. Where a sender gives both, this one wins, as in Thunderbird and as RFC 6266 asks
 * of HTTP: it is the one that can say its charset, the plain one being there for older readers.
 */
export function extendedParam(params: Record<string, string>, name: string): string | undefined {
  const whole = params[`${name}*`];
  if (whole !== undefined) return decodeExtended(whole);
  if (params[`${name}*0*`] === undefined && params[`${name}*0`] === undefined) return undefined;
  const sections = new Sections(`${name}*`.length);
  for (const key in params) if (key.startsWith(`${name}*`)) sections.add(key, params[key], false);
  return sections.joined();
}

/** extendedParam over the parameters of a parsed value (its `params`, read from `all` in one pass). */
export function extendedParamOf(v: MimeValue, name: string): string | undefined {
  const whole = v.params[`${name}*`];
  if (whole !== undefined) return decodeExtended(whole);
  if (v.params[`${name}*0*`] === undefined && v.params[`${name}*0`] === undefined) return undefined;
  const sections = new Sections(`${name}*`.length);
  // The first of a name given twice, as in `params`.
  for (const [key, value] of v.all) if (key.startsWith(`${name}*`)) sections.add(key, value, false);
  return sections.joined();
}

/**
 * The RFC 2231 sections of one parameter by number, an encoded (`name*N*`) and a plain (`name*N`) one of each,
 * gathered in one pass over the parameters: asking for each number by name cost a string and a lookup among
 * 100,000 names per section.
 */
class Sections {
  private readonly encoded: string[] = [];
  private readonly plain: string[] = [];
  /** Length of the `name*` that the keys given start with. */
  private readonly from: number;

  constructor(prefixLength: number) { this.from = prefixLength; }

  /** Notes the value of `key` (which starts with `name*`) if it names a section; `last`: a number given twice keeps its last value, else its first. */
  add(key: string, value: string, last: boolean): void {
    let i = this.from;
    const end = key.length;
    const first = key.charCodeAt(i);
    if (!(first >= 48 && first <= 57)) return;
    // A number as RFC 2231 writes it: `0`, `12`, not `012`.
    if (first === 48 && i + 1 < end && key.charCodeAt(i + 1) !== 42) return;
    let n = 0;
    for (; i < end && i - this.from < 9; i++) {
      const c = key.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
    const encoded = key.charCodeAt(i) === 42;
    if (i + (encoded ? 1 : 0) !== end) return;
    const into = encoded ? this.encoded : this.plain;
    if (last || into[n] === undefined) into[n] = value;
  }

  /**
   * The sections from the first up to the first missing one, however many, joined and decoded (each encoded one
   * percent-decoded in the charset the first names; where a number comes encoded and plain, the encoded one counts).
   * Undefined without a first section. Not cut at some count: mailparser joins them all, and a name read to its 64th
   * section hid the `.exe` a sender put in its 100,000th. The header they are in bounds the work.
   */
  joined(): string | undefined {
    if (this.encoded[0] === undefined && this.plain[0] === undefined) return undefined;
    let charset = '';
    const bytes: string[] = [];
    for (let i = 0; ; i++) {
      const encoded = this.encoded[i];
      if (encoded === undefined) {
        const plain = this.plain[i];
        if (plain === undefined) break;
        bytes.push(plain);
        continue;
      }
      const m = i === 0 ? CHARSET_AND_LANGUAGE.exec(encoded) : null;
      if (m) charset = m[1];
      bytes.push(percentDecoded(m ? m[2] : encoded));
    }
    const joined = bytes.join('');
    return charset ? decodeCharset(joined, charset) : joined;
  }
}

/**
 * Every value a header gives parameter `name` (lower case), decoded to text: each plain `name=` (8-bit bytes read as
 * UTF-8, encoded words decoded, as mailparser reads them), each `name*=` in RFC 2231 form, and the sections
 * `name*0…` joined, first and last of each section; de-duplicated, in that order. A sender that writes a file name
 * twice (`filename="readme.txt"; filename="setup.exe"`) is counting on a filter reading one and the recipient's
 * program another: mail clients differ in which they show, so a check on names must judge each.
 */
export function paramValues(v: MimeValue, name: string): string[] {
  const found: string[] = [];
  const prefix = `${name}*`;
  const first = new Sections(prefix.length);
  const last = new Sections(prefix.length);
  for (const [key, value] of v.all) {
    if (key === name) found.push(decodeWords(decodeCharset(value, 'utf-8')));
    else if (key === prefix) found.push(decodeExtended(value));
    else if (key.startsWith(prefix)) {
      first.add(key, value, false);
      last.add(key, value, true);
    }
  }
  for (const sections of [first, last]) {
    const joined = sections.joined();
    if (joined !== undefined) found.push(joined);
  }
  return [...new Set(found)];
}

/** `charset'language'%XX…` decoded; without the charset part, only percent-decoded. */
function decodeExtended(value: string): string {
  const m = CHARSET_AND_LANGUAGE.exec(value);
  if (!m) return percentDecoded(value);
  return decodeCharset(percentDecoded(m[2]), m[1] || 'us-ascii');
}

/** `%XX` escapes as the bytes they stand for, held as a latin1 string (what decodeCharset reads). */
function percentDecoded(s: string): string {
  if (!s.includes('%')) return s;
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}
