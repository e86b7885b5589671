// MIME parsing of a spooled message into text, HTML, URLs and attachments (mailparser), tolerant of broken MIME.
import { PassThrough, type Readable } from 'node:stream';
import type { AttachmentStream, MessageText } from 'mailparser';
import type { Attachment, ParsedMessage } from './types.ts';
import { withoutTrailing } from '../text/spans.ts';
import { decodeCharset } from '../text/charset.ts';
import { decodeWords } from '../text/encoded-words.ts';
import { decodeLeaf, eachLeaf, headerValue, LEAF_MAX_DEPTH, newLeafWalk, type LeafLimits, type MimeLeaf } from './mime-leaves.ts';
import { parseMimeValue } from './mime-params.ts';
import { Headers, headerEnd, parseHeaderBlock } from './header-block.ts';
import { htmlText } from './html-text.ts';
import { pacer } from '../text/next-turn.ts';
import { ContentSniffer, contentFacts } from './content-sniffer.ts';
import { wholeSource } from './byte-source.ts';
import { newListingBudget, type ListingBudget } from './zip-listing.ts';
import { splitTextParts, TEXT_MAX_BYTES, TEXT_PART_MAX_BYTES, withoutPartialUtf8, type SplitStructure, type TextPart } from './text-parts.ts';

// Brackets end a URL in text, except around an IPv6 host (`http://[2001:db8::1]/`), which browsers follow.
const URL_RE = /\bhttps?:\/\/(?:\[[0-9a-f:.]+\][^\s<>"'()\]\[{}]*|[^\s<>"'()\]\[{}]+)/gi;
const HREF_RE = /\b(?:href|src)\s*=\s*["']?(https?:\/\/[^"'\s>]+)/gi;
// A link written without its scheme (`www.spam.example/x`), which mail clients still make clickable; not inside
// another URL, an address or a longer name.
const BARE_WWW_RE = /(?<![\w.@/:-])www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>"'()\]\[{}]*/gi;

/** Sentence punctuation that follows a URL in text rather than belonging to it. */
const SENTENCE_MARKS = '.,;:!?';

/**
 * Every http(s) URL in the text and HTML, and `www.` links without a scheme (as http), de-duplicated, trailing
 * punctuation trimmed; in slices between turns of the event loop, since a large HTML part holds 100,000 links.
 */
export async function extractUrls(text: string, html: string): Promise<string[]> {
  const found = new Set<string>();
  const pause = pacer();
  const step = async (url: string) => { found.add(url); const turn = pause(); if (turn) await turn; };
  for (const m of text.matchAll(URL_RE)) await step(withoutTrailing(m[0], SENTENCE_MARKS));
  for (const m of text.matchAll(BARE_WWW_RE)) await step(`http://${withoutTrailing(m[0], SENTENCE_MARKS)}`);
  for (const m of html.matchAll(HREF_RE)) await step(m[1].replace(/&amp;/g, '&'));
  for (const m of html.matchAll(URL_RE)) await step(withoutTrailing(m[0], SENTENCE_MARKS).replace(/&amp;/g, '&'));
  return [...found];
}

/**
 * Messages up to this size are read whole by mailparser, HTML-to-text conversion included; the text parts of larger
 * ones are read by the gateway, each cut to its start (text-parts.ts), and their HTML made text by htmlText.
 * mailparser converts every HTML part in one synchronous call, about 80 ms per MB: 1.5 s for a 19 MB part, during
 * which no other client is answered, and it cuts the HTML at 16 MB. At 1 MB a whole message converts in under 100 ms.
 */
export const HTML_TO_TEXT_MAX_SIZE = 1024 * 1024;

/**
 * Decoded attachment content a parsed message keeps, in total: an attachment that would take the sum past it keeps
 * its name, type and size but not its bytes (`truncated`). Held whole, a 22 MB attachment (30 MB in base64) cost
 * 45 MB while it was joined (its chunks and the joined copy) and 22 MB until the verdict, for each message in flight,
 * though no check of ours reads the bytes (clamav scans the raw message, bayes and Haraka read their own copy).
 */
export const ATTACHMENT_CONTENT_MAX_BYTES = 10 * 1024 * 1024;

/**
 * Attached messages (message/rfc822) are parsed in turn, as PMG and the virus scanner look inside them, so that a
 * forwarded .eml does not hide an executable from rules and scripts; this many levels deep, which a forward of a
 * forward of a forward reaches.
 */
export const NESTED_MESSAGE_MAX_DEPTH = 5;

/**
 * Leaf parts the gateway's own MIME reader lists in a message mailparser refused, attached messages' included; the
 * structure is then incomplete (MIME_INCOMPLETE to the rules). ClamAV's MaxFiles default: listing 100,000 parts
 * took 2.7 s and 400 MB, and no mail program shows that many.
 */
export const MIME_PARTS_MAX = 10_000;

/**
 * Bytes of a part's header section that reader reads (mailparser's splitter refuses a longer one, 1 MB, and the
 * gateway a message header over limits.max_header_size); past them the structure is incomplete. Read whole, a part
 * header folded over 1,000,000 lines (20 MB) took 2.8 s and 450 MB.
 */
export const PART_HEADER_MAX_BYTES = 1024 * 1024;

/** Attached message types parsed in turn: message/global is the SMTPUTF8 form (RFC 6532), opened as an .eml is. */
const ATTACHED_MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);

/**
 * How far the parse walked the message's MIME structure. A parser that stops somewhere (a limit of mailparser's, of
 * the gateway's fallback reader, of NESTED_MESSAGE_MAX_DEPTH) hides what lies past that point from every check
 * that reads the parsed view, so it says so here rather than give a partial view as the whole.
 */
export interface MimeStructure {
  /**
   * Containers (multipart parts and attached messages) around the deepest part reached: 0 for a single-part
   * message, 1 for text and attachments in one multipart/mixed, 3 for an attachment of a forwarded message.
   */
  depth: number;
  /** Why some of the structure was not walked (its parts, names and text are missing from the view); absent when all of it was. */
  incomplete?: string;
  /**
   * Why a mail program may read the structure otherwise than the parse did (a padded delimiter line, two Content-Type
   * fields): parts the recipient sees may not be the parts checked. Absent when nothing was found.
   */
  ambiguous?: string;
}

/**
 * Every file name an attachment's part declares (each filename and filename* of its Content-Disposition, each name
 * and name* of its Content-Type), mailparser's choice (`filename`) first; empty when it declares none.
 */
export function attachmentNames(a: Attachment): string[] {
  return [...new Set(a.filename === undefined ? a.names : [a.filename, ...a.names])];
}

// Loaded on the first message a plugin parses: mailparser costs about 29 MB of memory in a gateway whose
// plugins only read headers and streams.
let parser: Promise<typeof import('mailparser')> | undefined;

interface Parts { subject?: string; text?: string; html?: string; attachments: Attachment[] }

/** The Content-Type a part declared (mailparser reports a guess from the file name for application/octet-stream). */
function declaredType(data: AttachmentStream): string {
  const value = data.headers.get('content-type') as { value?: string } | string | undefined;
  const type = typeof value === 'string' ? value : value?.value;
  return (type || data.contentType || 'application/octet-stream').toLowerCase();
}

/** What a message and the messages attached to it share while they are parsed. */
interface ParseState {
  /** Decoded content that may still be kept. */
  room: number;
  structure: MimeStructure;
  /** What listing the message's archives may still cost. */
  listing: ListingBudget;
}

/** Notes the first reason the walk stopped short (the first is the outermost, which hid the most). */
function stopped(state: ParseState, why: string): void {
  state.structure.incomplete ??= why;
}

function reached(state: ParseState, depth: number): void {
  if (depth > state.structure.depth) state.structure.depth = depth;
}

const freshState = (): ParseState => ({ room: ATTACHMENT_CONTENT_MAX_BYTES, structure: { depth: 0 }, listing: newListingBudget() });

/**
 * What simpleParser gives, read from mailparser's streaming parser so that an attachment's content is measured as
 * it streams and kept only within ATTACHMENT_CONTENT_MAX_BYTES (simpleParser buffers every attachment whole). An
 * attached message is parsed as it streams, its attachments listed after it with `within` naming it. `split` is
 * the splitter pass the input went through (its parts' depths and names); without it the input is split here.
 * `base` is the depth of the message within the one the gateway received.
 */
async function mailparse(input: Readable, skipHtmlToText: boolean, state: ParseState, within: string[] = [], base = 0, split?: SplitStructure): Promise<Parts> {
  parser ??= import('mailparser');
  const { MailParser } = await parser;
  let source = input;
  if (!split) ({ rest: source, structure: split } = splitTextParts(input, false));
  const structure = split;
  // checksumAlgo false: nothing reads a checksum, and hashing a large attachment costs time.
  const p = new MailParser({ skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, skipHtmlToText, checksumAlgo: false });
  const out: Parts = { attachments: [] };
  // In message order; an attached message's own attachments arrive once its parse ends.
  const slots: Array<Attachment[] | Promise<Attachment[]>> = [];
  return new Promise<Parts>((resolve, reject) => {
    // mailparser may emit an error and still reach its end: the first of the two settles, as in simpleParser.
    let settled = false;
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (err) { reject(err); return; }
      reached(state, base + structure.depth);
      if (structure.ambiguous) state.structure.ambiguous ??= structure.ambiguous;
      Promise.all(slots).then((lists) => { out.attachments = lists.flat(); resolve(out); }, reject);
    };
    p.on('error', settle);
    p.on('headers', (headers) => {
      const subject = headers.get('subject');
      if (subject !== undefined) out.subject = subject as string;
    });
    let reading = false;
    const read = (): void => {
      reading = true;
      const data = p.read() as MessageText | AttachmentStream | null;
      if (data === null) { reading = false; return; }
      if (data.type === 'text') {
        if (data.text !== undefined) out.text = data.text;
        if (data.html !== undefined) out.html = data.html;
        return read();
      }
      const declared = declaredType(data);
      const part = structure.parts.get(data.partId ?? '');
      const chunks: Buffer[] = [];
      const sniffer = new ContentSniffer();
      let size = 0;
      let kept = true;
      const attached = ATTACHED_MESSAGE_TYPES.has(declared);
      // The attached message's own top sits inside its container part.
      const innerBase = base + (part?.depth ?? 0) + 1;
      if (attached && within.length >= NESTED_MESSAGE_MAX_DEPTH) {
        reached(state, innerBase);
        stopped(state, `attached messages nested deeper than ${NESTED_MESSAGE_MAX_DEPTH} were not read`);
      }
      const nested = attached && within.length < NESTED_MESSAGE_MAX_DEPTH ? new PassThrough() : undefined;
      // An attached message mailparser cannot read stays listed, and the view says it was not read: what its parts
      // are (an .exe in 1,000 nested multiparts) is unknown, not harmless.
      const inner = nested
        ? mailparse(nested, true, state, [...within, data.filename ?? declared], innerBase).then((m) => m.attachments, () => {
          stopped(state, 'an attached message could not be parsed');
          return [];
        })
        : undefined;
      data.content.on('readable', () => {
        for (let chunk: Buffer | null; (chunk = data.content.read() as Buffer | null) !== null;) {
          size += chunk.length;
          nested?.write(chunk);
          sniffer.write(chunk);
          if (kept && size > state.room) { kept = false; chunks.length = 0; }
          if (kept) chunks.push(chunk);
        }
      });
      data.content.on('end', () => {
        if (kept) state.room -= size;
        nested?.end();
        const content = kept ? Buffer.concat(chunks, size) : Buffer.alloc(0);
        const attachment: Attachment = {
          filename: data.filename, contentType: data.contentType, declaredType: declared, size: data.size ?? size,
          content, truncated: !kept, ...sniffer.finish(state.listing, kept ? content : undefined),
          // A part path inside an attached message is that message's own, which a rewrite of this one would misread.
          partId: within.length ? undefined : data.partId ?? undefined,
          ...(within.length ? { within } : {}),
          names: part?.names ?? [],
        };
        slots.push([attachment]);
        if (inner) slots.push(inner);
        data.release?.();
        read();
      });
    };
    p.on('readable', () => { if (!reading) read(); });
    p.on('end', () => settle());
    source.once('error', (err) => { source.destroy(); p.destroy(); settle(err); }).pipe(p);
  });
}

/**
 * The message parsed by mailparser; when mailparser gives up (it refuses more than 1,000 parts, or a part's header
 * section over 1 MB), the message read again from `raw` by the gateway's own MIME reader, so that what a spammer
 * adds to make the parser fail does not also hide the text and links from every check. `size` is the message's
 * size in bytes: above HTML_TO_TEXT_MAX_SIZE the text parts are read by the gateway (each cut to its start) and
 * their HTML made text by htmlText, mailparser reading only the attachments. The view says how far the structure
 * was walked (ParsedMessage.structure): a part no reader reached is reported, never taken as absent.
 */
export async function parseMime(input: Readable, raw?: () => Promise<Buffer>, size = 0): Promise<ParsedMessage> {
  try {
    if (size > HTML_TO_TEXT_MAX_SIZE) return await parseLarge(input);
    const state = freshState();
    const m = await mailparse(input, false, state);
    const text = m.text ?? '';
    const html = m.html ?? '';
    const parsed: ParsedMessage = {
      subject: m.subject, text, html, urls: await extractUrls(text, html), attachments: m.attachments, malformed: false,
      textTruncated: false, structure: state.structure,
    };
    return parsed;
  } catch {
    input.destroy();
    try {
      if (raw) return await fromLeaves(await raw());
    } catch { /* the message cannot be read at all: nothing to show */ }
    const parsed: ParsedMessage = {
      text: '', html: '', urls: [], attachments: [], malformed: true, textTruncated: false,
      structure: { depth: 0, incomplete: 'the message could not be parsed' },
    };
    return parsed;
  }
}

/** A large message: its text parts from the gateway's reader, cut to their start; attachments and Subject from mailparser. */
async function parseLarge(input: Readable): Promise<ParsedMessage> {
  const split = splitTextParts(input);
  const state = freshState();
  const m = await mailparse(split.rest, true, state, [], 0, split.structure);
  const parts = split.parts();
  const { text, html } = await textAndHtml(parts);
  const parsed: ParsedMessage = {
    subject: m.subject, text, html, urls: await extractUrls(text, html), attachments: m.attachments, malformed: false,
    textTruncated: parts.some((p) => p.cut), structure: state.structure,
  };
  return parsed;
}

/**
 * The text view: every plain part, and every HTML part as text unless a plain part with words in it stands beside it
 * in its multipart/alternative (an empty plain alternative hides nothing); the HTML view: the HTML parts.
 */
async function textAndHtml(parts: TextPart[]): Promise<{ text: string; html: string }> {
  const covered = new Set(parts.filter((p) => !p.html && p.alternative && /\S/.test(p.content)).map((p) => p.alternative));
  const texts: string[] = [];
  const htmls: string[] = [];
  for (const p of parts) {
    if (!p.html) { texts.push(p.content); continue; }
    htmls.push(p.content);
    if (!covered.has(p.alternative)) texts.push(await htmlText(p.content));
  }
  return { text: texts.join('\n'), html: htmls.join('\n') };
}

/**
 * The text, HTML and attachments of a message as its leaf parts hold them (decoded), for a message mailparser
 * refused; leaf by leaf, with turns of the event loop between them, up to MIME_PARTS_MAX leaves.
 */
async function fromLeaves(raw: Buffer): Promise<ParsedMessage> {
  const message = raw.toString('latin1');
  const texts: string[] = [];
  const htmls: string[] = [];
  const state = freshState();
  let textRoom = TEXT_MAX_BYTES;
  let textTruncated = false;
  const end = headerEnd(raw);
  const head = message.slice(0, Math.min(end < 0 ? message.length : end, PART_HEADER_MAX_BYTES));
  const rawSubject = new Headers(parseHeaderBlock(head)).first('Subject');
  // As mailparser gives it: raw 8-bit bytes read as UTF-8 (or Windows-1252 where they are not), encoded words decoded.
  const subject = rawSubject === undefined ? undefined : decodeWords(decodeCharset(rawSubject, 'utf-8'));
  const reading: LeafReading = {
    state, pause: pacer(), limits: { leavesMax: MIME_PARTS_MAX, leavesLeft: MIME_PARTS_MAX, headerBytes: PART_HEADER_MAX_BYTES },
  };
  const { attachments, unread } = await leafAttachments(message, reading, [], 0, (leaf) => {
    const disposition = parseMimeValue(headerValue(leaf.headers, 'content-disposition') ?? '').type;
    const isText = leaf.contentType === 'text/plain' || leaf.contentType === 'text/html';
    if (!isText || disposition === 'attachment') return false;
    // Each text part cut to its start as in a message mailparser reads (see text-parts.ts).
    const keep = Math.min(TEXT_PART_MAX_BYTES, textRoom);
    const cut = leaf.end - leaf.bodyStart > keep;
    const charset = parseMimeValue(headerValue(leaf.headers, 'content-type') ?? '').params.charset ?? '';
    let content = decodeLeaf(message, leaf, keep);
    if (cut) { textTruncated = true; content = withoutPartialUtf8(content); }
    textRoom -= Math.min(leaf.end - leaf.bodyStart, keep);
    (leaf.contentType === 'text/html' ? htmls : texts).push(decodeCharset(content.toString('latin1'), charset));
    return true;
  });
  for (const why of unread) stopped(state, why);
  const text = texts.join('\n');
  const html = htmls.join('\n');
  const parsed: ParsedMessage = { subject, text, html, urls: await extractUrls(text, html), attachments, malformed: true, textTruncated, structure: state.structure };
  return parsed;
}

/** What the fallback reader's walks of a message share: the parse state, the pace, the limits. */
interface LeafReading { state: ParseState; pause: () => Promise<void> | undefined; limits: LeafLimits }

/**
 * The attachments among the leaves of `message` (a latin1 string), and those of each attached message in it, as
 * mailparser lists them; `takeText` takes a leaf that is text of the message (only the outermost message's is read).
 * `unread` gives why parts were not read, this message's reasons before those of the messages in it.
 */
async function leafAttachments(message: string, reading: LeafReading, within: string[], base: number, takeText?: (leaf: MimeLeaf) => boolean): Promise<{ attachments: Attachment[]; unread: string[] }> {
  const { state } = reading;
  const walk = newLeafWalk();
  const attachments: Attachment[] = [];
  // Known only once the walk has ended, while a reason from an attached message is known on the way.
  const inner: string[] = [];
  for (const leaf of eachLeaf(message, walk, reading.limits)) {
    const turn = reading.pause();
    if (turn) await turn;
    if (takeText?.(leaf)) continue;
    const content = decodeLeaf(message, leaf);
    const filename = leaf.filename === undefined ? undefined : Buffer.from(leaf.filename, 'latin1').toString('utf8');
    const kept = content.length <= state.room;
    if (kept) state.room -= content.length;
    const attachment: Attachment = {
      filename, contentType: leaf.contentType, declaredType: leaf.contentType, size: content.length,
      content: kept ? content : Buffer.alloc(0), truncated: !kept, ...contentFacts(wholeSource(content), state.listing), ...(within.length ? { within } : {}), names: leaf.names,
    };
    attachments.push(attachment);
    if (!ATTACHED_MESSAGE_TYPES.has(leaf.contentType)) continue;
    const innerBase = base + leaf.depth + 1;
    if (within.length >= NESTED_MESSAGE_MAX_DEPTH) {
      reached(state, innerBase);
      inner.push(`attached messages nested deeper than ${NESTED_MESSAGE_MAX_DEPTH} were not read`);
      continue;
    }
    const attached = await leafAttachments(content.toString('latin1'), reading, [...within, filename ?? leaf.contentType], innerBase);
    for (const a of attached.attachments) attachments.push(a);
    inner.push(...attached.unread);
  }
  reached(state, base + walk.depth);
  const unread: string[] = [];
  if (walk.cut) unread.push(`MIME parts nested deeper than ${LEAF_MAX_DEPTH} levels were not read`);
  if (walk.unread) unread.push(walk.unread);
  return { attachments, unread: [...unread, ...inner] };
}
