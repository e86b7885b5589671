// The text parts of a large message, each cut to its first TEXT_PART_MAX_BYTES, read from the message as it streams;
// every other byte goes on to mailparser (attachments, Subject), which then never holds a text part whole.
//
// mailparser joins each text part into one buffer, then a string, then a copy with line ends changed (about three
// times the part: five 40 MB HTML messages in flight took the gateway past 1 GB), though no check reads that far:
// bayes reads at most the first 2 MB of a message, urlbl the links. SpamAssassin and Rspamd also scan only the
// start of a big text part.
import { createRequire } from 'node:module';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { MimeNode } from '@zone-eu/mailsplit';
import { decodeCharset } from '../text/charset.ts';
import { decodeBody, declaredNames } from './mime-leaves.ts';
import { parseHeaderBlock } from './header-block.ts';
import { DelimiterPadding } from './delimiter-padding.ts';
import { ambiguousFields, PADDED_DELIMITER } from './structure-ambiguity.ts';
import { QuotedPrintableAsBase64 } from './qp-as-base64.ts';

/** Bytes of each text part's body (as sent, before base64 or quoted-printable is undone) that the parsed view keeps. */
export const TEXT_PART_MAX_BYTES = 2 * 1024 * 1024;
/** Bytes of text part bodies a message keeps in all: parts after that are cut, or left out, too. */
export const TEXT_MAX_BYTES = 4 * 1024 * 1024;

export interface TextPart {
  html: boolean;
  /** The decoded text, line ends as `\n`; the start of the part when `cut`. */
  content: string;
  cut: boolean;
  /** The closest multipart/alternative around the part, if any: a plain part there stands for an HTML one. */
  alternative?: object;
}

/** The part types mailparser reads as text when inline (a delivery report reads as plain text). */
const TEXT_TYPES = new Set(['text/plain', 'text/html', 'message/delivery-status']);

/** Whether mailparser takes the node as text rather than as an attachment (its rule, so the two agree). */
function isInlineText(node: MimeNode): boolean {
  if (node.multipart) return false;
  const type = node.contentType || (node.root ? 'text/plain' : '');
  return TEXT_TYPES.has(type) && (!node.disposition || node.disposition === 'inline');
}

function closestAlternative(node: MimeNode): object | undefined {
  for (let n: MimeNode | false = node.parentNode as MimeNode | false; n; n = n.parentNode as MimeNode | false) {
    if (n.multipart === 'alternative') return n;
  }
  return undefined;
}

/** Where to cut `chunk` to keep at most `room` bytes: after its last line break within them, else at `room`. */
function cutAt(chunk: Buffer, room: number): number {
  const lf = chunk.lastIndexOf(0x0a, room - 1);
  return lf < 0 ? room : lf + 1;
}

/** The bytes without an incomplete UTF-8 sequence at their end (a cut part), which would make them read as Windows-1252. */
export function withoutPartialUtf8(bytes: Buffer): Buffer {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const b = bytes[bytes.length - back];
    if (b < 0x80) return bytes;
    if (b >= 0xc0) {
      const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return length > back ? bytes.subarray(0, bytes.length - back) : bytes;
    }
  }
  return bytes;
}

/** `format=flowed` text (RFC 3676) with its soft line breaks and space-stuffing undone, as mailparser reads it. */
function unflow(text: string, delSp: boolean): string {
  const lines: string[] = [];
  let flowing = '';
  for (const raw of text.split('\n')) {
    const line = raw.startsWith(' ') ? raw.slice(1) : raw;
    // A line that ends in a space goes on in the next one; the signature separator `-- ` does not.
    if (line.endsWith(' ') && line !== '-- ') flowing += delSp ? line.slice(0, -1) : line;
    else { lines.push(flowing + line); flowing = ''; }
  }
  if (flowing) lines.push(flowing);
  return lines.join('\n');
}

class Collecting {
  readonly node: MimeNode;
  readonly chunks: Buffer[] = [];
  size = 0;
  cut = false;
  constructor(node: MimeNode) { this.node = node; }

  part(): TextPart {
    const node = this.node;
    let bytes = decodeBody(Buffer.concat(this.chunks, this.size).toString('latin1'), node.encoding || undefined);
    const charset = node.charset || '';
    if (this.cut && /^(utf-?8)?$/i.test(charset.trim())) bytes = withoutPartialUtf8(bytes);
    let content = decodeCharset(bytes.toString('latin1'), charset).replace(/\r?\n/g, '\n');
    if (node.flowed) content = unflow(content, node.delSp);
    return { html: node.contentType === 'text/html', content, cut: this.cut, alternative: closestAlternative(node) };
  }
}

/** Takes the bodies of inline text parts out of the splitter's chunks, keeping their start; passes on the rest. */
class TextPartFilter extends Transform {
  readonly parts: TextPart[] = [];
  private current?: Collecting;
  private room = TEXT_MAX_BYTES;

  constructor() { super({ objectMode: true }); }

  override _transform(chunk: MimeNode | { type: 'data' | 'body'; value: Buffer; node: MimeNode }, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.type === 'node') {
      this.finish();
      if (isInlineText(chunk)) this.current = new Collecting(chunk);
    } else if (chunk.type === 'body' && this.current) {
      this.keep(this.current, chunk.value);
      return done();
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.finish();
    done();
  }

  private keep(c: Collecting, value: Buffer): void {
    if (c.cut) return;
    const room = Math.min(TEXT_PART_MAX_BYTES - c.size, this.room);
    let piece = value;
    if (value.length > room) {
      piece = room > 0 ? value.subarray(0, cutAt(value, room)) : value.subarray(0, 0);
      c.cut = true;
    }
    // A copy: the splitter's chunk is a slice of a 64 KB read that would otherwise stay alive with it.
    if (piece.length) c.chunks.push(Buffer.from(piece));
    c.size += piece.length;
    this.room -= piece.length;
  }

  private finish(): void {
    if (this.current) this.parts.push(this.current.part());
    this.current = undefined;
  }
}

/** A part as the splitter saw it, by mailparser's part id (`1.2`; '' for the message itself). */
export interface SplitPart {
  /** Containers (multipart, message) around the part: 0 for the message itself. */
  depth: number;
  /** Every file name its Content-Disposition and Content-Type declare (see `declaredNames`). */
  names: string[];
}

/** What the splitter saw of the message's structure; complete once `rest` has ended. */
export interface SplitStructure {
  /** Containers around the deepest part seen: 0 for a single-part message. */
  depth: number;
  parts: Map<string, SplitPart>;
  /** Why mail programs may read the structure otherwise than the parse did (see structure-ambiguity.ts), if so. */
  ambiguous?: string;
}

/** mailparser's id of a part: the numbers of mailsplit's part number (`TEXT` marks an embedded message). */
function partKey(node: MimeNode): string {
  return (node.partNr || []).filter((nr) => typeof nr === 'number').join('.');
}

/**
 * Notes each part's depth and declared names as the nodes pass. Ahead of mailparser in the same pipe, so a part
 * mailparser reports has been seen here; a later part with the same id (the message inside an embedded
 * message/rfc822 shares its container's) replaces the entry, being the one mailparser reports.
 */
class StructureWatch extends Transform {
  readonly structure: SplitStructure = { depth: 0, parts: new Map() };
  private readonly depths = new WeakMap<object, number>();

  constructor() { super({ objectMode: true }); }

  override _transform(chunk: MimeNode | { type: string }, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.type === 'node') {
      const node = chunk as MimeNode;
      const parent = node.parentNode as MimeNode | false;
      const depth = parent ? (this.depths.get(parent) ?? 0) + 1 : 0;
      this.depths.set(node, depth);
      if (depth > this.structure.depth) this.structure.depth = depth;
      const fields = parseHeaderBlock(node.getHeaders().toString('latin1'));
      this.structure.ambiguous ??= ambiguousFields(fields);
      const names = node.multipart ? [] : declaredNames(fields);
      this.structure.parts.set(partKey(node), { depth, names });
    }
    done(null, chunk);
  }
}

let mailsplitModule: typeof import('@zone-eu/mailsplit') | undefined;

/**
 * mailsplit and the libmime it brings (some 14 MB of RSS), required at the first message a plugin parses: a gateway
 * whose plugins never ask for the parsed view never loads them.
 */
function mailsplit(): typeof import('@zone-eu/mailsplit') {
  return (mailsplitModule ??= createRequire(import.meta.url)('@zone-eu/mailsplit'));
}

/**
 * Reads the message: `rest` is the message without the bodies of its inline text parts (all of it with `takeText`
 * false), quoted-printable parts as base64 of the same bytes (qp-as-base64.ts), for mailparser to read the
 * attachments and headers from; `parts()`, called once `rest` has ended, gives
 * those text parts in message order, and `structure` each part's depth and declared names. A splitter error (a
 * header section over 1 MB, over 1,000 parts) is an error of `rest`, as it is of mailparser.
 */
export function splitTextParts(input: Readable, takeText = true): { rest: Readable; parts: () => TextPart[]; structure: SplitStructure } {
  const { Joiner, Splitter } = mailsplit();
  // mailsplit's types name only the 'data' event of its streams; they are Transforms like any other.
  const splitter = new Splitter() as unknown as Transform;
  const watch = new StructureWatch();
  // The splitter reads the message without the transport padding of its delimiter lines, which it would not see as such.
  const padding = new DelimiterPadding();
  padding.once('end', () => { if (padding.padded) watch.structure.ambiguous ??= PADDED_DELIMITER; });
  const filter = takeText ? new TextPartFilter() : undefined;
  const rewrap = new QuotedPrintableAsBase64();
  const joiner = new Joiner() as unknown as Transform;
  const fail = (err: Error) => joiner.destroy(err);
  input.once('error', fail);
  padding.once('error', fail);
  splitter.once('error', fail);
  watch.once('error', fail);
  filter?.once('error', fail);
  rewrap.once('error', fail);
  const watched = input.pipe(padding).pipe(splitter).pipe(watch);
  (filter ? watched.pipe(filter) : watched).pipe(rewrap).pipe(joiner);
  return { rest: joiner, parts: () => filter?.parts ?? [], structure: watch.structure };
}
