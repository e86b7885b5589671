// Breaks a message into the tokens the dictionary counts: body words plus header, URL and attachment
// tokens prefixed by where they came from, so "free" in a Subject and "free" in a body are learned apart.
import { parseMail, type MailContent, type MailHeader } from './mime.ts';
import { htmlToText } from './html.ts';
import { addressesIn, displayText, hostNamesIn, messageIdParts, trimDomain } from './header-parts.ts';
import { linkTarget } from './link-host.ts';
import { getDomain } from 'tldts';
import { clientMessage } from './client-message.ts';
import { fileToken } from './file-token.ts';
import { CHAR_CLASS, CJK, INNER, MARK, SURROGATE, TYPOGRAPHIC_APOSTROPHE, WORD, classAt } from './char-class.ts';

export interface TokenizerOptions {
  /** Also learn HTML tags and attributes (MailEnable's "process HTML content"). */
  processHtml: boolean;
  /** Distinct tokens kept per message at most. */
  maxTokens: number;
  /** Header names (lower case; a trailing `*` matches a prefix) never tokenized, not even by name. */
  ignoreHeaders: string[];
  /** Bytes of the message read at most. */
  maxBytes: number;
  /** Also learn pairs of adjacent body words (more tokens, better separation). */
  bigrams: boolean;
}

export const DEFAULT_TOKENIZER: TokenizerOptions = {
  processHtml: true,
  maxTokens: 3000,
  // Headers an earlier filter added say what that filter thought, not what the message is.
  ignoreHeaders: ['x-spam-*', 'x-mailmoat-*', 'x-bogosity', 'x-virus-*', 'x-dspam-*', 'x-crm114-*'],
  maxBytes: 512 * 1024,
  bigrams: true,
};

/** Token → how often it occurs in the message. */
export type TokenCounts = Map<string, number>;

// A word is a run of letters, digits and currency signs that may hold . ' _ - inside (e-mail, u.s., don't) but never
// ends with one. With bigrams, a lone punctuation mark or character takes part in pairs too (`phone~:`,
// `,~when`), which tell templates and word salad from prose, but is never a token of its own. Chinese and Japanese
// put no spaces between words (Korean's spaced words run long), so a run of Han, kana or Hangul is read as
// overlapping character pairs (`無料で` → `無料`, `料で`), as Lucene's CJK analyzer reads it, whatever its length.
// The scanner reads char codes through a class table (`char-class.ts`): no regex pass and no array of matches per text.
// A module-local name for it: the scan loop reads it once per character, and an imported binding costs a little more.
const CLASS = CHAR_CLASS;
const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'()]+/gi;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** Where the tokenizer puts each token it finds (repeats included). */
export interface TokenSink {
  add(token: string): void;
  /**
   * Optional fast path for body words: the same as `add(prefix + word)` when `unigram`, then, when `prev`
   * is not empty, `add(prefix + prev + '~' + word)`.
   */
  addWord?(prefix: string, word: string, prev: string, unigram: boolean): void;
}

class Bag implements TokenSink {
  counts: TokenCounts = new Map();
  max: number;
  constructor(max: number) { this.max = max; }
  add(token: string): void {
    const c = this.counts.get(token);
    if (c !== undefined) this.counts.set(token, c + 1);
    else if (this.counts.size < this.max) this.counts.set(token, 1);
  }
}

/** The part of a host name a registrar sells, by the public-suffix list: `mail.example.co.uk` → `example.co.uk`. */
export function registeredDomain(host: string): string {
  // Longer than any DNS name: no list knows it, and the cache must not hold a sender's megabyte.
  if (host.length > MAX_HOST_NAME) return host;
  let domain = registered.get(host);
  if (domain === undefined) {
    // Names not under a known suffix (made-up or internal ones) stay whole.
    domain = getDomain(host, { allowPrivateDomains: false, extractHostname: false, validateHostname: false, mixedInputs: false }) ?? host;
    if (registered.size >= MAX_REGISTERED) registered.clear();
    registered.set(host, domain);
  }
  return domain;
}

// The list's lookup costs about a microsecond, and mail names the same hosts again and again.
const registered = new Map<string, string>();
const MAX_REGISTERED = 4096;
const MAX_HOST_NAME = 253;

function addWord(bag: TokenSink, prefix: string, word: string, prev: string, unigram: boolean): void {
  if (bag.addWord) { bag.addWord(prefix, word, prev, unigram); return; }
  if (unigram) bag.add(prefix + word);
  if (prev) bag.add(`${prefix}${prev}~${word}`);
}

function isDigits(w: string): boolean {
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function words(text: string, prefix: string, bag: TokenSink, bigrams = false): void {
  const s = text.toLowerCase();
  const n = s.length;
  let prev = '';
  let i = 0;
  while (i < n) {
    let k = CLASS[s.charCodeAt(i)];
    // Spaces and line breaks first: they are most of what lies between words.
    if (k === 0) {
      i++;
      continue;
    }
    let width = 1;
    if (k === SURROGATE) {
      k = classAt(s, i);
      if (k !== 0) width = 2;
    }
    if ((k & CJK) !== 0) {
      const end = cjkRun(s, i, width, prefix, bag, bigrams, prev);
      if (bigrams) prev = lastTwo(s, i, end);
      i = end;
      continue;
    }
    if ((k & WORD) === 0) {
      if (bigrams && (k & MARK) !== 0) {
        // s[i] comes from V8's table of one-character strings; a slice would be a new string each time.
        const mark = width === 1 ? s[i] : s.slice(i, i + 2);
        if (prev) addWord(bag, prefix, mark, prev, false);
        prev = mark;
      }
      i += width;
      continue;
    }
    let j = i + width;
    let end = j;
    // Units beyond one per character, so that the length is counted in characters.
    let extra = width - 1;
    let typographic = false;
    while (j < n) {
      const c = s.charCodeAt(j);
      const kk = CLASS[c];
      if ((kk & WORD) !== 0) end = ++j;
      else if ((kk & INNER) !== 0) {
        if (c === TYPOGRAPHIC_APOSTROPHE) typographic = true;
        j++;
      } else if (kk === SURROGATE && (classAt(s, j) & WORD) !== 0) { j += 2; end = j; extra++; }
      else break;
    }
    const len = end - i - extra;
    if (len === 1) {
      // A lone character: only the link of a pair.
      if (bigrams) {
        const ch = width === 1 ? s[i] : s.slice(i, end);
        if (prev) addWord(bag, prefix, ch, prev, false);
        prev = ch;
      }
    } else if (len > 30) {
      bag.add(`${prefix}skip:${s.slice(i, i + width)}:${Math.min(9, Math.floor(len / 10))}`);
    } else {
      // don’t and don't are one word to the reader, so one token.
      const w = typographic ? s.slice(i, end).replaceAll('\u2019', "'") : s.slice(i, end);
      // Long numbers (order ids, phone numbers) say little one by one, much by their length.
      if (len > 6 && isDigits(w)) bag.add(`${prefix}num:${len}`);
      else if (!bigrams) bag.add(prefix + w);
      else {
        addWord(bag, prefix, w, prev, true);
        prev = w;
      }
    }
    i = end;
  }
}

/**
 * Reads the run of CJK letters starting at `s[i]` (`width` units) as overlapping character pairs, each a token; with
 * bigrams the first pair also pairs with the word or mark before the run (`prev`), as words do. A lone character
 * is, like any lone character, only the link of a pair. Returns where the run ends.
 */
function cjkRun(s: string, i: number, width: number, prefix: string, bag: TokenSink, bigrams: boolean, prev: string): number {
  const n = s.length;
  let from = i;
  let j = i + width;
  while (j < n) {
    let w = 1;
    let k = CLASS[s.charCodeAt(j)];
    if (k === SURROGATE) {
      k = classAt(s, j);
      w = 2;
    }
    if ((k & CJK) === 0) break;
    const pair = s.slice(from, j + w);
    if (!bigrams) bag.add(prefix + pair);
    else addWord(bag, prefix, pair, from === i ? prev : '', true);
    from = j;
    j += w;
  }
  if (j === i + width && bigrams && prev) addWord(bag, prefix, s.slice(i, j), prev, false);
  return j;
}

/** The last two characters of `s[from, end)`, or the one there is: a CJK run's last pair, which the next word pairs with. */
function lastTwo(s: string, from: number, end: number): string {
  let start = end;
  for (let c = 0; c < 2 && start > from; c++) {
    const low = s.charCodeAt(start - 1);
    start -= low >= 0xdc00 && low <= 0xdfff && start - 2 >= from ? 2 : 1;
  }
  return s.slice(start, end);
}

function hostTokens(rawUrl: string, bag: TokenSink): void {
  const target = linkTarget(rawUrl);
  if (!target) return;
  if ('ip' in target) { bag.add('u:ip'); return; }
  const host = target.host;
  bag.add('u:' + host);
  const reg = registeredDomain(host);
  if (reg !== host) bag.add('ud:' + reg);
}

function addressTokens(value: string, prefix: string, bag: TokenSink, withWords: boolean): void {
  for (const a of addressesIn(value.toLowerCase(), 10)) {
    bag.add(`${prefix}@${trimDomain(a.slice(a.lastIndexOf('@') + 1))}`);
    if (prefix === 'f:') bag.add(`${prefix}${a}`);
  }
  if (withWords) words(displayText(value), prefix, bag);
}

function shape(s: string): string {
  return s.slice(0, 16).replace(/[0-9]/g, '9').replace(/[a-z]/g, 'a').replace(/[A-Z]/g, 'A');
}

/** True when the header `name` (lower case) is one of `ignore` (a trailing `*` matches a prefix). */
export function ignored(name: string, ignore: string[]): boolean {
  for (const p of ignore) {
    if (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p) return true;
  }
  return false;
}

function headerTokens(headers: MailHeader[], opts: TokenizerOptions, bag: TokenSink): void {
  let rcpts = 0;
  for (const { name, value } of headers) {
    if (ignored(name, opts.ignoreHeaders)) continue;
    switch (name) {
      case 'subject':
        words(value, 's:', bag, opts.bigrams);
        // Subject words count as body words too, pairs included: short messages say most of what they say there.
        words(value, '', bag, opts.bigrams);
        break;
      case 'from': addressTokens(value, 'f:', bag, true); break;
      case 'reply-to': addressTokens(value, 'r:', bag, false); break;
      case 'to': case 'cc':
        addressTokens(value, 't:', bag, false);
        rcpts += (value.match(/@/g) ?? []).length;
        break;
      case 'received': {
        for (const h of hostNamesIn(value.toLowerCase())) {
          if (IPV4_RE.test(h)) bag.add('rcv:ip:' + h.slice(0, h.lastIndexOf('.')));
          else if (/[a-z]/.test(h)) bag.add('rcv:' + registeredDomain(h));
        }
        break;
      }
      case 'content-type': {
        const low = value.toLowerCase();
        bag.add('ct:' + low.split(';')[0].trim());
        const cs = /charset="?([\w.-]+)/.exec(low);
        if (cs) bag.add('ct:charset=' + cs[1]);
        const b = /boundary="?([^";]+)/i.exec(value);
        if (b) bag.add('ct:b=' + shape(b[1]));
        break;
      }
      case 'x-mailer': case 'user-agent': words(value, 'xm:', bag); break;
      case 'message-id': {
        const id = messageIdParts(value);
        if (id) { bag.add('mid:' + id.domain.toLowerCase()); bag.add('mid:s=' + shape(id.local)); } else bag.add('mid:none');
        break;
      }
      default: bag.add('hn:' + name);
    }
  }
  bag.add('m:rcpts=' + Math.min(rcpts, 5));
}

/**
 * No subject, text, HTML or attachment: such a message has no word to judge it by, yet says something by being
 * empty (in the shared corpus 52 spam and no ham are), so it gets a token of its own.
 */
function isEmpty(mail: MailContent): boolean {
  if (mail.attachments.length || mail.text.trim() || mail.html.trim()) return false;
  for (const h of mail.headers) if (h.name === 'subject' && h.value.trim()) return false;
  return true;
}

/**
 * Passes every token on as a dictionary file holds it (`fileToken`): header, link, tag and attachment tokens take
 * text as it comes, which may hold whitespace. Body words never do (the scanner ends a word at any), so they go
 * to the sink without this one.
 */
class FileTokenSink implements TokenSink {
  private readonly inner: TokenSink;
  constructor(inner: TokenSink) { this.inner = inner; }
  add(token: string): void { this.inner.add(fileToken(token)); }
  addWord(prefix: string, word: string, prev: string, unigram: boolean): void { addWord(this.inner, prefix, word, prev, unigram); }
}

/**
 * Passes on tokens until `budget` of them (repeats included) have passed. The header section may fill at most
 * half of a message's token cap: with no such limit, 3,000 made-up header names (60 KB) or a Subject of 3,000
 * words took every place and left the body, where the message says what it is, unread.
 */
class BudgetSink implements TokenSink {
  private left: number;
  private readonly inner: TokenSink;
  constructor(inner: TokenSink, budget: number) { this.inner = inner; this.left = budget; }
  add(token: string): void {
    if (this.left > 0) { this.left--; this.inner.add(token); }
  }
  addWord(prefix: string, word: string, prev: string, unigram: boolean): void {
    const cost = (unigram ? 1 : 0) + (prev ? 1 : 0);
    if (this.left < cost) { this.left = 0; return; }
    this.left -= cost;
    addWord(this.inner, prefix, word, prev, unigram);
  }
}

/** Feeds every token of an already parsed message to `bag`. */
export function tokenizeInto(mail: MailContent, opts: TokenizerOptions, bag: TokenSink): void {
  const other = new FileTokenSink(bag);
  headerTokens(mail.headers, opts, new BudgetSink(other, Math.ceil(opts.maxTokens / 2)));
  if (mail.text) {
    words(mail.text, '', bag, opts.bigrams);
    for (const u of mail.text.match(URL_RE) ?? []) hostTokens(u, other);
  }
  if (mail.html) {
    const h = htmlToText(mail.html, opts.processHtml);
    if (!mail.text) { words(h.text, '', bag, opts.bigrams); bag.add('m:html-only'); }
    for (const u of h.urls) hostTokens(u, other);
    for (const u of h.text.match(URL_RE) ?? []) hostTokens(u, other);
    if (opts.processHtml) for (const t of h.tags) other.add('h:' + t);
  }
  if (isEmpty(mail)) bag.add('m:empty');
  for (const a of mail.attachments) {
    other.add('at:' + a.contentType);
    if (a.filename) {
      // Whitespace made `_` before the cuts, as a tag's value is (html.ts).
      const name = fileToken(a.filename.toLowerCase());
      const dot = name.lastIndexOf('.');
      other.add('an:' + name.slice(0, 40));
      if (dot >= 0) other.add('an:ext=' + name.slice(dot + 1, dot + 9));
    }
  }
}

/** Tokens of an already parsed message. */
export function tokenizeContent(mail: MailContent, opts: TokenizerOptions = DEFAULT_TOKENIZER): TokenCounts {
  const bag = new Bag(opts.maxTokens);
  tokenizeInto(mail, opts, bag);
  return bag.counts;
}

/**
 * A raw message parsed as the tokenizer reads it: from where the client's message starts, so that a copy the gateway
 * relayed (its Received field on top, a mailbox server's above that) gives the tokens the gateway read.
 */
export function readMail(raw: Buffer | string, opts: TokenizerOptions): MailContent {
  return parseMail(clientMessage(raw), { maxBytes: opts.maxBytes });
}

/** Tokens of a raw message. */
export function tokenize(raw: Buffer | string, opts: TokenizerOptions = DEFAULT_TOKENIZER): TokenCounts {
  return tokenizeContent(readMail(raw, opts), opts);
}
