// MIME parsing of a spooled message into text, HTML, URLs and attachments (mailparser), tolerant of broken MIME.
import type { Readable } from 'node:stream';
import type { ParsedMessage } from './types.ts';
import { withoutTrailing } from '../text/spans.ts';
import { decodeCharset } from '../text/charset.ts';
import { decodeWords } from '../text/encoded-words.ts';
import { decodeLeaf, headerValue, leafParts } from './mime-leaves.ts';
import { parseMimeValue } from './mime-params.ts';
import { Headers, headerEnd, parseHeaderBlock } from './header-block.ts';
import { htmlText } from './html-text.ts';
import { pacer } from '../text/next-turn.ts';

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
 * Messages up to this size get mailparser's HTML-to-text conversion; larger ones the gateway's own (htmlText).
 * mailparser converts every HTML part in one synchronous call, about 80 ms per MB: 1.5 s for a 19 MB part, during
 * which no other client is answered, and it cuts the HTML at 16 MB. At 1 MB a whole message converts in under 100 ms.
 */
export const HTML_TO_TEXT_MAX_SIZE = 1024 * 1024;

// Loaded on the first message a plugin parses: mailparser costs about 29 MB of memory in a gateway whose
// plugins only read headers and streams.
let parser: Promise<typeof import('mailparser')> | undefined;

/**
 * The message parsed by mailparser; when mailparser gives up (it refuses more than 1,000 parts, or a part's header
 * section over 1 MB), the message read again from `raw` by the gateway's own MIME reader, so that what a spammer
 * adds to make the parser fail does not also hide the text and links from every check. `size` is the message's
 * size in bytes: above HTML_TO_TEXT_MAX_SIZE the text of an HTML-only message comes from htmlText.
 */
export async function parseMime(input: Readable, raw?: () => Promise<Buffer>, size = 0): Promise<ParsedMessage> {
  try {
    parser ??= import('mailparser');
    const { simpleParser } = await parser;
    const large = size > HTML_TO_TEXT_MAX_SIZE;
    const m = await simpleParser(input, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true, skipHtmlToText: large });
    const html = typeof m.html === 'string' ? m.html : '';
    const text = large && html && !/\S/.test(m.text ?? '') ? await htmlText(html) : m.text ?? '';
    return {
      subject: m.subject,
      text,
      html,
      urls: await extractUrls(text, html),
      attachments: m.attachments.map((a) => ({
        filename: a.filename, contentType: a.contentType, size: a.size, content: a.content, truncated: false, partId: a.partId ?? undefined,
      })),
      malformed: false,
    };
  } catch {
    input.destroy();
    try {
      if (raw) return await fromLeaves(await raw());
    } catch { /* the message cannot be read at all: nothing to show */ }
    return { text: '', html: '', urls: [], attachments: [], malformed: true };
  }
}

/** The text, HTML and attachments of a message as its leaf parts hold them (decoded), for a message mailparser refused. */
async function fromLeaves(raw: Buffer): Promise<ParsedMessage> {
  const message = raw.toString('latin1');
  const texts: string[] = [];
  const htmls: string[] = [];
  const attachments: ParsedMessage['attachments'] = [];
  const end = headerEnd(raw);
  const rawSubject = new Headers(parseHeaderBlock(message.slice(0, end < 0 ? message.length : end))).first('Subject');
  // As mailparser gives it: raw 8-bit bytes read as UTF-8 (or Windows-1252 where they are not), encoded words decoded.
  const subject = rawSubject === undefined ? undefined : decodeWords(decodeCharset(rawSubject, 'utf-8'));
  leafParts(message).forEach((leaf) => {
    const content = decodeLeaf(message, leaf);
    const disposition = parseMimeValue(headerValue(leaf.headers, 'content-disposition') ?? '').type;
    const isText = leaf.contentType === 'text/plain' || leaf.contentType === 'text/html';
    if (isText && disposition !== 'attachment') {
      const charset = parseMimeValue(headerValue(leaf.headers, 'content-type') ?? '').params.charset ?? '';
      (leaf.contentType === 'text/html' ? htmls : texts).push(decodeCharset(content.toString('latin1'), charset));
      return;
    }
    const filename = leaf.filename === undefined ? undefined : Buffer.from(leaf.filename, 'latin1').toString('utf8');
    attachments.push({ filename, contentType: leaf.contentType, size: content.length, content, truncated: false });
  });
  const text = texts.join('\n');
  const html = htmls.join('\n');
  return { subject, text, html, urls: await extractUrls(text, html), attachments, malformed: true };
}
