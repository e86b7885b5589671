// What the preview of a held message shows its recipient, so they need not judge it by its subject alone: the header
// fields a reader looks at, its text (an HTML part as text: the sender's HTML is never shown as HTML), and the names,
// types and sizes of its attachments, never their content. Every value is the sender's: cleaned of control and
// direction-changing characters and cut, as the list's are (summary.ts), then escaped by the page that shows it.
import { createReadStream } from 'node:fs';
import type { QueueEntry } from '../queue/entry.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { attachmentNames, parseMime } from '../message/mime-parse.ts';
import { htmlText } from '../message/html-text.ts';
import { shownText, type HeldHeaders } from './summary.ts';

export interface PreviewAttachment { name: string; type: string; size: number; within?: string }

export interface MessagePreview {
  /** From, To, Cc, Date and Subject, those the message has, in that order, each cleaned and cut. */
  fields: Array<[name: string, value: string]>;
  /** The text, lines kept, cut at PREVIEW_TEXT_CHARS or PREVIEW_TEXT_LINES. */
  text: string;
  /** The message's text is longer than `text`. */
  cut: boolean;
  attachments: PreviewAttachment[];
  /** Attachments past PREVIEW_ATTACHMENTS_MAX, not listed. */
  moreAttachments: number;
  /** Why part of the message could not be read (its MIME structure broken or too deep), when so. */
  incomplete?: string;
}

/** Characters of text a preview shows: enough to judge a message, never pages of a flood. */
const PREVIEW_TEXT_CHARS = 20_000;
const PREVIEW_TEXT_LINES = 400;
const PREVIEW_ATTACHMENTS_MAX = 100;
/** Header values are shown longer than on the list, but still cut (a To of 5,000 addresses). */
const FIELD_CHARS = 500;
/** Previews parsed at once: each holds up to the parser's limits (some MB), and a ticket may ask again and again. */
const PREVIEWS_AT_ONCE = 2;

const FIELDS = ['From', 'To', 'Cc', 'Date', 'Subject'] as const;

// Control and direction-changing characters; line breaks and tabs are kept, the text's lines being its shape.
const UNSAFE_IN_TEXT = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+/g;

/** `text` as a preview shows it: line ends as \n, unsafe characters gone, blank runs shortened, cut. */
function previewText(text: string): { text: string; cut: boolean } {
  const clean = text.replace(/\r\n?/g, '\n').replace(UNSAFE_IN_TEXT, ' ').replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim();
  let chars = [...clean.slice(0, PREVIEW_TEXT_CHARS * 2)].slice(0, PREVIEW_TEXT_CHARS).join('');
  const lines = chars.split('\n');
  if (lines.length > PREVIEW_TEXT_LINES) chars = lines.slice(0, PREVIEW_TEXT_LINES).join('\n');
  return { text: chars, cut: chars.length < clean.length };
}

let running = 0;
const waiting: Array<() => void> = [];

/** Runs `work` once fewer than PREVIEWS_AT_ONCE run; a slot freed goes straight to the next in line. */
async function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (running >= PREVIEWS_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try { return await work(); } finally {
    const next = waiting.shift();
    if (next) next(); else running--;
  }
}

/**
 * The preview of a quarantined message, read from its file through the gateway's MIME parser (as its checks read it);
 * `field` is its header section as the page's summary read it (heldHeaders), not read again here.
 */
export async function previewOf(store: QueueStore, entry: QueueEntry, field: HeldHeaders): Promise<MessagePreview> {
  const fields: MessagePreview['fields'] = [];
  for (const name of FIELDS) {
    const value = field(name.toLowerCase());
    if (value !== undefined) fields.push([name, shownText(value, FIELD_CHARS)]);
  }
  const parsed = await inTurn(() => {
    const file = createReadStream(store.emlPath(entry.id, 'quarantine'), { start: 0, end: Math.max(0, entry.size - 1), highWaterMark: 256 * 1024 });
    return parseMime(file, () => store.readHead(entry.id, 'quarantine', entry.size), entry.size);
  });
  // An HTML-only message's text is its HTML made text by the gateway's own reading (tags, scripts and styles dropped).
  const { text, cut } = previewText(/\S/.test(parsed.text) || !parsed.html ? parsed.text : await htmlText(parsed.html));
  const attachments = parsed.attachments.slice(0, PREVIEW_ATTACHMENTS_MAX).map((a): PreviewAttachment => ({
    name: shownText(attachmentNames(a)[0] ?? '', 200) || '(no name)',
    type: shownText(a.declaredType, 100),
    size: a.size,
    ...(a.within?.length ? { within: shownText(a.within.join(' › '), 200) } : {}),
  }));
  return {
    fields, text, cut: cut || parsed.textTruncated, attachments,
    moreAttachments: Math.max(0, parsed.attachments.length - PREVIEW_ATTACHMENTS_MAX),
    ...(parsed.structure.incomplete ? { incomplete: parsed.structure.incomplete } : {}),
  };
}
