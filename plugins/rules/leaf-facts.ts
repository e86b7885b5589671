// The attachments of a raw message part by part, each with the facts the attachment criteria read (facts.ts): the
// parsed view lists attachments without saying where their bytes are, and remove_attachments must ask a rule's
// criteria of one part at a time to know which bytes to take out.
import type { Attachment } from '../../core/index.ts';
import { decodeLeaf, headerValue, leafParts, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { parseMimeValue } from '../../core/message/mime-params.ts';
import { contentFacts } from '../../core/message/content-sniffer.ts';
import { wholeSource } from '../../core/message/byte-source.ts';
import { newListingBudget, type ListingBudget } from '../../core/message/zip-listing.ts';
import { NESTED_MESSAGE_MAX_DEPTH } from '../../core/message/mime-parse.ts';
import { attachmentFacts, type AttachmentFacts } from './facts.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';
import { headerValueText } from '../../core/text/header-value.ts';

const ATTACHED_MESSAGES = new Set(['message/rfc822', 'message/global']);

/**
 * Whether a leaf is text of the message rather than an attachment, as mailparser decides for the parsed view: a
 * text/plain or text/html part whose disposition is absent or inline (a file name does not make it an attachment).
 */
export function isTextBody(leaf: MimeLeaf): boolean {
  if (leaf.contentType !== 'text/plain' && leaf.contentType !== 'text/html') return false;
  const disposition = parseMimeValue(headerValue(leaf.headers, 'content-disposition') ?? '').type;
  return disposition === '' || disposition === 'inline';
}

/**
 * A file name as text, as mail programs show it: a leaf's is bytes in a latin1 string (written back as UTF-8 where
 * RFC 2231 decoded it), read as a header value is, then its encoded words decoded: `=?koi8-r?B?xsHKzA==?=.exe`, which
 * Outlook and mailparser show as `файл.exe`, is named so in the removal notice and the log.
 */
const nameOf = (leaf: MimeLeaf) => (leaf.filename === undefined ? leaf.names[0] : decodeWords(headerValueText(leaf.filename)));

/** One thing a part holds as the criteria see it: the part itself, a file in its archive, an attachment of its message. */
export interface HeldFile { label: string; facts: AttachmentFacts }

export interface LeafAttachment {
  leaf: MimeLeaf;
  /** The part's file name, or its type when it has none. */
  label: string;
  /** The part first, then what is in it. */
  held: HeldFile[];
}

/**
 * The type mailparser guesses from a file name for a part declared application/octet-stream (the criteria's
 * `type` matches it too); read off the parsed view, so that the guess is the one the rule matched on.
 */
export type TypeGuess = (names: string[]) => string | undefined;

function leafAttachment(text: string, leaf: MimeLeaf, budget: ListingBudget, guess: TypeGuess, within: string[]): Attachment {
  const content = decodeLeaf(text, leaf);
  const filename = nameOf(leaf);
  const guessed = leaf.contentType === 'application/octet-stream' && within.length === 0 ? guess(leaf.names) : undefined;
  return {
    filename, contentType: guessed ?? leaf.contentType, declaredType: leaf.contentType, size: content.length, content,
    truncated: false, names: leaf.names, ...contentFacts(wholeSource(content), budget),
  };
}

/** What a part holds, labelled under `prefix`: itself and its archive entries, then an attached message's attachments. */
function heldFiles(text: string, leaf: MimeLeaf, budget: ListingBudget, guess: TypeGuess, within: string[]): HeldFile[] {
  const a = leafAttachment(text, leaf, budget, guess, within);
  const label = [...within, a.filename ?? leaf.contentType].join(' / ');
  const [own, ...entries] = attachmentFacts(a);
  const held: HeldFile[] = [{ label, facts: own }, ...entries.map((facts) => ({ label: `${label} / ${facts.names[0]}`, facts }))];
  if (!ATTACHED_MESSAGES.has(leaf.contentType) || within.length >= NESTED_MESSAGE_MAX_DEPTH) return held;
  const inner = a.content.toString('latin1');
  for (const part of leafParts(inner)) {
    if (!isTextBody(part)) held.push(...heldFiles(inner, part, budget, guess, [...within, a.filename ?? leaf.contentType]));
  }
  return held;
}

/** Of `leaves` (the leaf parts of `text`, a message as a latin1 string), the attachments, each with what it holds. */
export function leafAttachments(text: string, leaves: readonly MimeLeaf[], guess: TypeGuess): LeafAttachment[] {
  const budget = newListingBudget();
  return leaves.filter((leaf) => !isTextBody(leaf)).map((leaf) => {
    const held = heldFiles(text, leaf, budget, guess, []);
    return { leaf, label: held[0].label, held };
  });
}
