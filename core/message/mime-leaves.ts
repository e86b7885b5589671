// Finds the leaf parts of a raw MIME message by byte offset, so a part can be replaced and every other byte kept
// (virus stripping and link defanging both edit messages this way).
//
// The message is handled as a latin1 string: one character per byte, so string offsets are byte offsets and
// `Buffer.from(text, 'latin1')` gives back the original bytes.

import { parseHeaderBlock } from './header-block.ts';
import { extendedParamOf, paramValues, parseMimeValue, type MimeValue } from './mime-params.ts';
import { decodeQuotedPrintableBody } from './qp-decode.ts';

export interface HeaderLine {
  /** Lower-cased name. */
  name: string;
  /** Unfolded value. */
  value: string;
  /** The field as written, folding kept (with CRLF line breaks), without its final line break. */
  raw: string;
}

export interface MimeLeaf {
  /** Offset of the part's first header line (of the message itself for a single-part message). */
  start: number;
  /** Offset of the body, after the blank line. */
  bodyStart: number;
  /** Offset just past the body; the line break before the next boundary is not part of the body. */
  end: number;
  headers: HeaderLine[];
  /** Lower-cased `type/subtype`; `text/plain` when absent. */
  contentType: string;
  filename?: string;
  /** Every file name the part declares, decoded (see `declaredNames`); `filename` is the one mail clients mostly show. */
  names: string[];
  /** Multipart levels around the leaf: 0 for a single-part message. */
  depth: number;
}

/** Multipart levels the reader goes into; a multipart deeper than this is listed as one leaf. */
export const LEAF_MAX_DEPTH = 20;

/** How far a walk of the leaves went. */
export interface LeafWalk {
  leaves: MimeLeaf[];
  /** Multipart levels around the deepest part reached: 0 for a single-part message. */
  depth: number;
  /** A multipart nested deeper than LEAF_MAX_DEPTH was listed as one leaf, its parts not read. */
  cut: boolean;
  /** Why the walk stopped short of a limit it was given (LeafLimits), if it did. */
  unread?: string;
}

/**
 * What a walk may read, for a reader that must not spend without bound on a message made to make it work (the
 * parsed view's fallback); a walk for an edit reads everything, since a part it skipped would go out unedited.
 */
export interface LeafLimits {
  /** Leaves listed at most, in all the walks that share these limits. */
  readonly leavesMax: number;
  /**
   * Leaves still to be listed, counted down: one budget serves the walks of a message and of the messages in it.
   * Below 0 once a leaf past the last was met: every walk sharing it then stops.
   */
  leavesLeft: number;
  /** Bytes of a part's header section that are read; fields past them are not. */
  headerBytes: number;
}

/** A part's header fields, names in lower case. */
function headerLines(block: string): HeaderLine[] {
  return parseHeaderBlock(block).map((f) => ({ name: f.name.toLowerCase(), value: f.value, raw: f.raw.slice(0, -2) }));
}

/** The value of a part's first header field called `name` (lower case). */
export function headerValue(headers: HeaderLine[], name: string): string | undefined {
  return headers.find((h) => h.name === name)?.value;
}

/** The header section of the part starting at `start`: its fields and where its body begins. */
export function splitPart(text: string, start: number, end: number): { headers: HeaderLine[]; bodyStart: number } {
  const { headers, bodyStart } = splitPartWithin(text, start, end, Infinity);
  return { headers, bodyStart };
}

/** splitPart reading the fields of the first `maxBytes` of the header section only (cut after a line); `cut` when it is longer. */
function splitPartWithin(text: string, start: number, end: number, maxBytes: number): { headers: HeaderLine[]; bodyStart: number; cut: boolean } {
  // A part may have no headers at all: it then starts with the blank line.
  if (text.startsWith('\r\n', start)) return { headers: [], bodyStart: start + 2, cut: false };
  if (text.startsWith('\n', start)) return { headers: [], bodyStart: start + 1, cut: false };
  // Searched within the part only: a search to the end of the message, once per part, is quadratic.
  const hit = /\r?\n\r?\n/.exec(text.slice(start, end));
  const headerEnd = hit ? start + hit.index : end;
  const bodyStart = hit ? headerEnd + hit[0].length : end;
  if (headerEnd - start <= maxBytes) return { headers: headerLines(text.slice(start, headerEnd)), bodyStart, cut: false };
  const lf = text.lastIndexOf('\n', start + maxBytes);
  return { headers: headerLines(text.slice(start, lf > start ? lf : start + maxBytes)), bodyStart, cut: true };
}

/** Offsets of the boundary delimiter lines of a multipart body: where each line starts and where the next line starts. */
export function delimiters(text: string, from: number, to: number, boundary: string): Array<{ at: number; next: number; close: boolean }> {
  const out: Array<{ at: number; next: number; close: boolean }> = [];
  const marker = `--${boundary}`;
  let i = text.indexOf(marker, from);
  while (i >= 0 && i < to) {
    const lineStart = i === from || text[i - 1] === '\n';
    const eol = text.indexOf('\n', i);
    const lineEnd = eol < 0 || eol >= to ? to : eol;
    const rest = text.slice(i + marker.length, lineEnd);
    if (lineStart && /^(--)?[ \t\r]*$/.test(rest)) {
      out.push({ at: i, next: Math.min(lineEnd + 1, to), close: rest.startsWith('--') });
      if (rest.startsWith('--')) break;
    }
    // Only a marker at a line start counts: resuming within this line would look up its end again for every repeat.
    i = lineEnd >= to ? -1 : text.indexOf(marker, lineEnd);
  }
  return out;
}

/** Where a part's content ends: before the line break that belongs to the next delimiter. */
function trimDelimiterBreak(text: string, at: number, floor: number): number {
  if (at - 2 >= floor && text.slice(at - 2, at) === '\r\n') return at - 2;
  if (at - 1 >= floor && text[at - 1] === '\n') return at - 1;
  return at;
}

/** Every non-multipart part in order; a message/rfc822 part counts as one leaf. */
export function leafParts(text: string, start = 0, end = text.length): MimeLeaf[] {
  return walkLeaves(text, start, end).leaves;
}

/** The leaves, and how deep the walk went and whether it stopped at LEAF_MAX_DEPTH. */
export function walkLeaves(text: string, start = 0, end = text.length): LeafWalk {
  const walk = newLeafWalk();
  // Appended one by one: spreading 100,000 leaves into push() overflows the stack.
  for (const leaf of eachLeaf(text, walk, undefined, start, end)) walk.leaves.push(leaf);
  return walk;
}

export const newLeafWalk = (): LeafWalk => ({ leaves: [], depth: 0, cut: false });

/**
 * The leaves one at a time, so that a reader can give the event loop a turn between them; `walk` says how far the
 * walk went once it has ended (its `leaves` are left to the caller). With `limits`, the walk stops where they say,
 * and `walk.unread` says why.
 */
export function eachLeaf(text: string, walk: LeafWalk, limits?: LeafLimits, start = 0, end = text.length): Generator<MimeLeaf, void> {
  return leavesOf(text, start, end, 0, walk, limits);
}

function* leavesOf(text: string, start: number, end: number, depth: number, walk: LeafWalk, limits?: LeafLimits): Generator<MimeLeaf, void> {
  if (depth > walk.depth) walk.depth = depth;
  const { headers, bodyStart, cut } = splitPartWithin(text, start, end, limits?.headerBytes ?? Infinity);
  if (cut) walk.unread ??= `a MIME part's header section is over ${limits!.headerBytes} bytes: its fields past that were not read`;
  // Each field parsed once: a header of 1 MB of parameters takes tens of ms a parse.
  const types = parsedFields(headers, 'content-type');
  const ct = types[0] ?? parseMimeValue('');
  const contentType = ct.type || 'text/plain';
  const boundary = contentType.startsWith('multipart/') ? ct.params.boundary : undefined;
  if (boundary && depth >= LEAF_MAX_DEPTH) walk.cut = true;
  if (boundary && depth < LEAF_MAX_DEPTH) {
    const delims = delimiters(text, bodyStart, end, boundary);
    let found = false;
    // A body cut short before its closing delimiter keeps its last part up to the end.
    for (let k = 0; k < delims.length && !delims[k].close; k++) {
      const partStart = delims[k].next;
      const partEnd = k + 1 < delims.length ? trimDelimiterBreak(text, delims[k + 1].at, partStart) : end;
      for (const leaf of leavesOf(text, partStart, partEnd, depth + 1, walk, limits)) {
        found = true;
        yield leaf;
      }
      if (limits && limits.leavesLeft < 0) return;
    }
    if (found) return;
  }
  if (limits) {
    if (limits.leavesLeft <= 0) {
      limits.leavesLeft = -1;
      walk.unread ??= `more than ${limits.leavesMax} MIME parts: the parts after those were not read`;
      return;
    }
    limits.leavesLeft--;
  }
  const fields: NameFields = { dispositions: parsedFields(headers, 'content-disposition'), types };
  yield { start, bodyStart, end, headers, contentType, filename: leafFilename(fields), names: namesIn(fields), depth };
}

/** The parsed values of every field called `name` (lower case) in a part's header. */
function parsedFields(headers: ReadonlyArray<{ name: string; value: string }>, name: string): MimeValue[] {
  const values: MimeValue[] = [];
  for (const h of headers) if (h.name.toLowerCase() === name) values.push(parseMimeValue(h.value));
  return values;
}

/** A part's Content-Disposition and Content-Type fields, parsed, in order: what its file names are read from. */
interface NameFields { dispositions: MimeValue[]; types: MimeValue[] }

/**
 * Every file name the part's header declares, decoded to text: each `filename` and `filename*` of each
 * Content-Disposition field, then each `name` and `name*` of each Content-Type field (see `paramValues`).
 * `headers` are fields with latin1-string values, as the message is read here.
 */
export function declaredNames(headers: ReadonlyArray<{ name: string; value: string }>): string[] {
  return namesIn({ dispositions: parsedFields(headers, 'content-disposition'), types: parsedFields(headers, 'content-type') });
}

function namesIn(fields: NameFields): string[] {
  const names: string[] = [];
  for (const v of fields.dispositions) for (const n of paramValues(v, 'filename')) names.push(n);
  for (const v of fields.types) for (const n of paramValues(v, 'name')) names.push(n);
  return [...new Set(names)];
}

/**
 * The part's file name, as bytes in a latin1 string like the rest of the message: the first disposition's
 * `filename`, else the first type's `name`, each in its RFC 2231 form when it has one (decoded, and written back as
 * UTF-8 bytes).
 */
function leafFilename(fields: NameFields): string | undefined {
  const none = parseMimeValue('');
  for (const [v, name] of [[fields.dispositions[0] ?? none, 'filename'], [fields.types[0] ?? none, 'name']] as const) {
    const extended = extendedParamOf(v, name);
    if (extended !== undefined) return Buffer.from(extended, 'utf8').toString('latin1');
    if (v.params[name] !== undefined) return v.params[name];
  }
  return undefined;
}

/**
 * The decoded content of a leaf (base64 and quoted-printable undone); with `maxBytes`, of the first `maxBytes` of
 * its body only, cut after a line break where there is one (a text part a filter reads the start of).
 */
export function decodeLeaf(text: string, leaf: MimeLeaf, maxBytes = Infinity): Buffer {
  let end = leaf.end;
  if (end - leaf.bodyStart > maxBytes) {
    const lf = text.lastIndexOf('\n', leaf.bodyStart + maxBytes - 1);
    end = lf >= leaf.bodyStart ? lf + 1 : leaf.bodyStart + maxBytes;
  }
  return decodeBody(text.slice(leaf.bodyStart, end), headerValue(leaf.headers, 'content-transfer-encoding'));
}

/** A body (bytes as a latin1 string) with its transfer encoding, base64 or quoted-printable, undone. */
export function decodeBody(body: string, transferEncoding?: string): Buffer {
  const cte = transferEncoding?.trim().toLowerCase();
  if (cte === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') return decodeQuotedPrintableBody(body);
  return Buffer.from(body, 'latin1');
}

/** A leaf and the text that takes its place (from `start` to `end`: its header section and body). */
export interface LeafEdit { leaf: MimeLeaf; with: string }

/** The text with each edited leaf replaced; `edits` in message order, as `leafParts` lists them. */
export function replaceLeaves(text: string, edits: LeafEdit[]): string {
  // Joined once at the end: splicing each edit into the whole text copies it once per edit.
  const pieces: string[] = [];
  let pos = 0;
  for (const e of edits) {
    pieces.push(text.slice(pos, e.leaf.start), e.with);
    pos = e.leaf.end;
  }
  pieces.push(text.slice(pos));
  return pieces.join('');
}
