// The read-only view of a spooled message that every content check shares.
import type { Readable } from 'node:stream';
import type { MimeStructure } from './mime-parse.ts';
import type { ArchiveListing } from './zip-listing.ts';

export interface HeaderField {
  /** Name as written in the message. */
  name: string;
  /** Unfolded value, without the trailing line break, as sent: encoded words (`=?UTF-8?B?…?=`) are not decoded; a decoded Subject is `(await message.parsed()).subject`. */
  value: string;
  /** The raw header lines, folding kept, with the trailing CRLF. */
  raw: string;
}

export interface HeaderList {
  readonly fields: readonly HeaderField[];
  /** Every value of a header (case-insensitive name), in message order, as sent (not RFC 2047-decoded). */
  all(name: string): string[];
  /** The first value of a header, as sent (not RFC 2047-decoded), or undefined. */
  first(name: string): string | undefined;
  has(name: string): boolean;
}

export interface Attachment {
  filename?: string;
  /** mailparser's type: the declared one, or for `application/octet-stream` a guess from the file name. */
  contentType: string;
  /** The Content-Type the part declared (lower case), what the sender's mail program said it is. */
  declaredType: string;
  size: number;
  /**
   * Decoded content, kept while the message's attachments together stay within ATTACHMENT_CONTENT_MAX_BYTES
   * (core/message/mime-parse.ts, 10 MB); the one that would pass it, and any larger after it, have an empty buffer
   * and `truncated` set, with name, type and size as ever. For the bytes of a larger one, read `stream()`.
   */
  content: Buffer;
  truncated: boolean;
  /** MIME part path such as `1.2`, stable for rewriting; absent inside an attached message. */
  partId?: string;
  /**
   * For an attachment inside an attached message (message/rfc822, parsed up to NESTED_MESSAGE_MAX_DEPTH deep): the
   * file names of the messages it is in, outermost first (`message/rfc822` for one without a name). Absent at the top.
   */
  within?: string[];
  /**
   * Every file name the part declares (each filename and filename* of its Content-Disposition, each name and name* of
   * its Content-Type), as written, whether or not mailparser chose it for `filename`; empty when it declares none. A
   * sender may give a part two names so that a filter reads the harmless one (read both through attachmentNames()).
   */
  names: string[];
  /** The type its first bytes name (core/message/file-magic.ts), whatever it declares; absent when they name none known. */
  detectedType?: string;
  /** For a ZIP, RAR or plain-header 7z archive: the names inside it (core/message/archive-listing.ts). */
  archive?: ArchiveListing;
}

export interface ParsedMessage {
  subject?: string;
  /**
   * The text/plain parts, and HTML parts with no plain alternative as text (mailparser's conversion, link targets
   * in brackets). In a message over 1 MB, each HTML part without a plain part beside it in its alternative is
   * converted by the gateway's own conversion (tags dropped, references decoded), which does not hold the event loop,
   * and each text part is kept only up to its first 2 MB (see `textTruncated`).
   */
  text: string;
  html: string;
  /** Every http(s) URL found in the text and HTML parts, de-duplicated. */
  urls: string[];
  /** The message's attachments, and after each attached message the attachments inside it (see `within`). */
  attachments: Attachment[];
  /**
   * True when mailparser refused the MIME structure (over 1,000 parts, say); text, HTML and attachments are then
   * those of the leaf parts the gateway's own MIME reader finds (core/message/mime-leaves.ts), and the subject undecoded.
   */
  malformed: boolean;
  /**
   * True when a text or HTML part was longer than the parsed view keeps (TEXT_PART_MAX_BYTES of each, TEXT_MAX_BYTES
   * in all, core/message/text-parts.ts): `text`, `html` and `urls` then hold its start only. The message itself is
   * whole: a check that must see all of it reads `stream()`.
   */
  textTruncated: boolean;
  /** How far the parse walked the MIME structure: its depth, and why part of it was not read (`incomplete`), if so. */
  structure: MimeStructure;
}

export interface MessageView {
  /** Queue id of this message. */
  readonly id: string;
  /**
   * Path of a spool file holding the message as received (line ends normalised to CRLF). A small message is held in
   * memory only, and reading `path` writes it out first: prefer `stream()` or `raw()` unless a tool needs a file.
   */
  readonly path: string;
  /** Size in bytes of the spooled message. */
  readonly size: number;
  /** The header section as received. */
  readonly headers: HeaderList;
  /** A fresh stream of the raw message bytes (from memory for a small message, else from the spool file). */
  stream(): Readable;
  /** The whole raw message (avoid on large messages, which are read from the spool file). */
  raw(): Promise<Buffer>;
  /** The MIME-parsed message, parsed once on first use and shared by every plugin. */
  parsed(): Promise<ParsedMessage>;
}
