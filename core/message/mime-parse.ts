// MIME parsing of a spooled message into text, HTML, URLs and attachments (mailparser), tolerant of broken MIME.
import type { Readable } from 'node:stream';
import type { ParsedMessage } from './types.ts';
import { withoutTrailing } from '../text/spans.ts';

const URL_RE = /\bhttps?:\/\/[^\s<>"'()\]\[{}]+/gi;
const HREF_RE = /\b(?:href|src)\s*=\s*["']?(https?:\/\/[^"'\s>]+)/gi;
// A link written without its scheme (`www.spam.example/x`), which mail clients still make clickable; not inside
// another URL, an address or a longer name.
const BARE_WWW_RE = /(?<![\w.@/:-])www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+[^\s<>"'()\]\[{}]*/gi;

/** Sentence punctuation that follows a URL in text rather than belonging to it. */
const SENTENCE_MARKS = '.,;:!?';

/** Every http(s) URL in the text and HTML, and `www.` links without a scheme (as http), de-duplicated, trailing punctuation trimmed. */
export function extractUrls(text: string, html: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(URL_RE)) found.add(withoutTrailing(m[0], SENTENCE_MARKS));
  for (const m of text.matchAll(BARE_WWW_RE)) found.add(`http://${withoutTrailing(m[0], SENTENCE_MARKS)}`);
  for (const m of html.matchAll(HREF_RE)) found.add(m[1].replace(/&amp;/g, '&'));
  for (const m of html.matchAll(URL_RE)) found.add(withoutTrailing(m[0], SENTENCE_MARKS).replace(/&amp;/g, '&'));
  return [...found];
}

// Loaded on the first message a plugin parses: mailparser costs about 29 MB of memory in a gateway whose
// plugins only read headers and streams.
let parser: Promise<typeof import('mailparser')> | undefined;

export async function parseMime(input: Readable): Promise<ParsedMessage> {
  try {
    parser ??= import('mailparser');
    const { simpleParser } = await parser;
    const m = await simpleParser(input, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true });
    const text = m.text ?? '';
    const html = typeof m.html === 'string' ? m.html : '';
    return {
      subject: m.subject,
      text,
      html,
      urls: extractUrls(text, html),
      attachments: m.attachments.map((a) => ({
        filename: a.filename, contentType: a.contentType, size: a.size, content: a.content, truncated: false, partId: a.partId ?? undefined,
      })),
      malformed: false,
    };
  } catch {
    return { text: '', html: '', urls: [], attachments: [], malformed: true };
  }
}
