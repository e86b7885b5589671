// The 7-bit downgrade of a message for a next hop without 8BITMIME (RFC 6152 §3), as Postfix does it by default:
// every MIME leaf whose body holds 8-bit bytes is re-encoded (text as quoted-printable, anything else as base64) and
// its Content-Transfer-Encoding changed; multipart structure, boundaries, preamble and epilogue stay as they are;
// a message/rfc822 part is walked into and its own leaves converted. Header fields are never touched beyond the
// transfer encoding: 8-bit header bytes cannot be fixed by MIME and go out as they are.
//
// It streams in two passes over the same bytes: `scanSevenBit` finds the leaves to convert, and `sevenBitStream`
// writes the converted message. A header section must be rewritten before its body is seen, and buffering a body of
// tens of MB to learn whether it holds 8-bit bytes is what the streaming is there to avoid; the scan also lets a
// message with nothing to convert go out untouched, byte for byte.
//
// A converted message keeps its DKIM-Signature field, which no longer verifies when a signed body part changed its
// encoding (the body hash covers the encoded bytes). Postfix breaks such signatures the same way; signing 7-bit or
// relaying to a server with 8BITMIME is the cure, not removing the signature.

import { isAscii } from 'node:buffer';
import { parseHeaderBlock } from './header-block.ts';
import { parseMimeValue } from './mime-params.ts';
import { Base64Encoder, QuotedPrintableEncoder, type LeafEncoder } from './seven-bit-encoders.ts';

export interface SevenBitPlan {
  /** Leaves (by entity number, in message order, the message itself 0) whose bodies are re-encoded. */
  leaves: Set<number>;
  /** Multipart and message/rfc822 entities labelled 8bit or binary that hold a converted leaf: relabelled 7bit. */
  composites: Set<number>;
}

export interface SevenBitScan {
  /** Some byte of the message is 0x80 or above. */
  eightBit: boolean;
  /** 8-bit bytes in places the downgrade leaves as they are: header fields, preamble and epilogue, encoded leaves. */
  residual8bit: boolean;
  /**
   * 8-bit bytes in a header section, the message's or a part's at any depth: what RFC 6532 allows only where the
   * next hop offers SMTPUTF8 (core/relay/smtp-relay.ts).
   */
  header8bit: boolean;
  plan: SevenBitPlan;
}

/** A line longer than this is handled in pieces; no boundary line is anywhere near as long. */
const MAX_LINE = 64 * 1024;
/** A part's header section beyond this is not read as MIME: the part goes out as it is. */
const MAX_HEADER = 1024 * 1024;
const MAX_DEPTH = 20;

const IDENTITY = new Set(['', '7bit', '8bit', 'binary']);

interface HeadersFrame { kind: 'headers'; index: number; isMessage: boolean; digest: boolean; depth: number; lines: Buffer[]; bytes: number }
interface LeafFrame { kind: 'leaf'; index: number; convertible: boolean; textual: boolean; encoder?: LeafEncoder; held?: Buffer }
interface MultipartFrame { kind: 'multipart'; index: number; boundary: string; closed: boolean; label8bit: boolean; depth: number; digest: boolean }
interface MessageFrame { kind: 'message'; index: number; label8bit: boolean }
type Frame = HeadersFrame | LeafFrame | MultipartFrame | MessageFrame;

const has8bit = (b: Buffer) => !isAscii(b);

/** Walks the MIME structure of a byte stream; in scan mode it records a plan, in convert mode it applies one. */
class Walker {
  private readonly plan: SevenBitPlan;
  private readonly convert: boolean;
  private readonly stack: Frame[] = [];
  private next = 1;
  private rest: Buffer | undefined;
  private atLineStart = true;
  private out: Buffer[] = [];
  eightBit = false;
  residual8bit = false;
  header8bit = false;

  constructor(plan: SevenBitPlan, convert: boolean) {
    this.plan = plan;
    this.convert = convert;
    this.stack.push({ kind: 'headers', index: 0, isMessage: true, digest: false, depth: 0, lines: [], bytes: 0 });
  }

  private emit(b: Buffer): void { if (this.convert && b.length) this.out.push(b); }

  write(chunk: Buffer): Buffer[] {
    if (!this.eightBit && has8bit(chunk)) this.eightBit = true;
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let from = 0;
    for (let nl = buf.indexOf(0x0a, from); nl >= 0; nl = buf.indexOf(0x0a, from)) {
      this.piece(buf.subarray(from, nl + 1), this.atLineStart);
      this.atLineStart = true;
      from = nl + 1;
    }
    let tail = buf.subarray(from);
    while (tail.length > MAX_LINE) {
      // Never cut between CR and LF: the pair is one line break.
      const cut = tail[MAX_LINE - 1] === 0x0d ? MAX_LINE - 1 : MAX_LINE;
      this.piece(tail.subarray(0, cut), this.atLineStart);
      this.atLineStart = false;
      tail = tail.subarray(cut);
    }
    if (tail.length) this.rest = Buffer.from(tail);
    return this.take();
  }

  end(): Buffer[] {
    if (this.rest) { this.piece(this.rest, this.atLineStart); this.rest = undefined; }
    this.closeAbove(-1, false);
    return this.take();
  }

  private take(): Buffer[] { const o = this.out; this.out = []; return o; }

  /** Part of one line: a whole line with its break, or a piece of a long one (`start`: the line begins here). */
  private piece(p: Buffer, start: boolean): void {
    if (start && p.length >= 2 && p[0] === 0x2d && p[1] === 0x2d && p.length <= MAX_LINE) {
      const line = p.toString('latin1').replace(/\r?\n$/, '');
      for (let d = this.stack.length - 1; d >= 0; d--) {
        const f = this.stack[d];
        if (f.kind !== 'multipart' || f.closed || !line.startsWith(`--${f.boundary}`)) continue;
        const rest = line.slice(f.boundary.length + 2);
        if (!/^(--)?[ \t\r]*$/.test(rest)) continue;
        this.closeAbove(d, true);
        this.emit(p);
        if (rest.startsWith('--')) f.closed = true;
        else this.stack.push({ kind: 'headers', index: this.next++, isMessage: false, digest: f.digest, depth: f.depth + 1, lines: [], bytes: 0 });
        return;
      }
    }
    const top = this.stack[this.stack.length - 1];
    switch (top.kind) {
      case 'headers': this.headerPiece(top, p, start); return;
      case 'leaf': this.leafPiece(top, p, start); return;
      default:
        // Preamble or epilogue (a message frame is never on top: its inner message is).
        if (has8bit(p)) this.residual8bit = true;
        this.emit(p);
    }
  }

  /** Ends every entity above stack position `d`; `delimiter`: a boundary line follows (it owns the line break before it). */
  private closeAbove(d: number, delimiter: boolean): void {
    while (this.stack.length - 1 > d) {
      const f = this.stack.pop()!;
      if (f.kind === 'headers') {
        // A part cut off inside its header section: what there was goes out as it came.
        if (this.sectionHas8bit(f)) this.residual8bit = this.header8bit = true;
        for (const l of f.lines) this.emit(l);
      } else if (f.kind === 'leaf' && f.encoder) {
        if (f.held && !delimiter) this.emit(f.encoder.write(f.held));
        this.emit(f.encoder.end());
        if (f.held && delimiter) this.emit(f.held);
        else if (!f.textual && !delimiter) this.emit(Buffer.from('\r\n'));
      }
    }
  }

  private sectionHas8bit(f: HeadersFrame): boolean { return f.lines.some(has8bit); }

  private headerPiece(f: HeadersFrame, p: Buffer, start: boolean): void {
    const blank = start && (p.length === 1 ? p[0] === 0x0a : p.length === 2 && p[0] === 0x0d && p[1] === 0x0a);
    if (!blank) {
      // A piece of a long line joins the line it belongs to, so that each entry is one line of a field.
      if (!start && f.lines.length) f.lines[f.lines.length - 1] = Buffer.concat([f.lines[f.lines.length - 1], p]);
      else f.lines.push(p);
      f.bytes += p.length;
      if (f.bytes > MAX_HEADER) this.opaque(f);
      return;
    }
    const block = Buffer.concat(f.lines).toString('latin1');
    if (this.sectionHas8bit(f)) this.residual8bit = this.header8bit = true;
    const fields = parseHeaderBlock(block);
    const first = (name: string) => fields.find((x) => x.name.toLowerCase() === name)?.value;
    const ct = parseMimeValue(first('content-type') ?? '');
    const type = ct.type || (f.digest ? 'message/rfc822' : 'text/plain');
    const cte = (first('content-transfer-encoding') ?? '').trim().toLowerCase();
    const at = this.stack.length - 1;
    const boundary = ct.params.boundary;
    if (type.startsWith('multipart/') && boundary && f.depth < MAX_DEPTH) {
      this.stack[at] = {
        kind: 'multipart', index: f.index, boundary, closed: false, label8bit: cte === '8bit' || cte === 'binary', depth: f.depth,
        digest: type === 'multipart/digest',
      };
      this.headerOut(f, this.plan.composites.has(f.index) ? '7bit' : undefined);
      this.emit(p);
      return;
    }
    if (type === 'message/rfc822' && IDENTITY.has(cte) && f.depth < MAX_DEPTH) {
      this.stack[at] = { kind: 'message', index: f.index, label8bit: cte === '8bit' || cte === 'binary' };
      this.headerOut(f, this.plan.composites.has(f.index) ? '7bit' : undefined);
      this.emit(p);
      this.stack.push({ kind: 'headers', index: this.next++, isMessage: true, digest: false, depth: f.depth + 1, lines: [], bytes: 0 });
      return;
    }
    const textual = type.startsWith('text/') || type.startsWith('message/');
    const leaf: LeafFrame = { kind: 'leaf', index: f.index, convertible: IDENTITY.has(cte), textual };
    if (this.convert && this.plan.leaves.has(f.index)) {
      leaf.encoder = textual ? new QuotedPrintableEncoder() : new Base64Encoder();
      this.headerOut(f, textual ? 'quoted-printable' : 'base64', f.isMessage && !first('mime-version'));
    } else {
      this.headerOut(f, undefined);
    }
    this.stack[at] = leaf;
    this.emit(p);
  }

  /** A header section too long to read as MIME: the entity goes out as it is, up to the next boundary. */
  private opaque(f: HeadersFrame): void {
    if (this.sectionHas8bit(f)) this.residual8bit = this.header8bit = true;
    for (const l of f.lines) this.emit(l);
    this.stack[this.stack.length - 1] = { kind: 'leaf', index: f.index, convertible: false, textual: false };
  }

  /**
   * The header section as it came, or with its Content-Transfer-Encoding set to `cte`: the first such field
   * replaced where it stands, any other removed, one appended when there was none (with MIME-Version when a message
   * lacks it, so that readers decode the new encoding).
   */
  private headerOut(f: HeadersFrame, cte: string | undefined, addVersion = false): void {
    if (!cte) { for (const l of f.lines) this.emit(l); return; }
    let replaced = false;
    let dropping = false;
    for (const l of f.lines) {
      const continuation = l[0] === 0x20 || l[0] === 0x09;
      if (continuation) { if (!dropping) this.emit(l); continue; }
      dropping = false;
      const colon = l.indexOf(':');
      const name = colon > 0 ? l.subarray(0, colon).toString('latin1').trim().toLowerCase() : '';
      if (name !== 'content-transfer-encoding') { this.emit(l); continue; }
      dropping = true;
      if (!replaced) this.emit(Buffer.from(`Content-Transfer-Encoding: ${cte}\r\n`));
      replaced = true;
    }
    if (addVersion) this.emit(Buffer.from('MIME-Version: 1.0\r\n'));
    if (!replaced) this.emit(Buffer.from(`Content-Transfer-Encoding: ${cte}\r\n`));
  }

  private leafPiece(f: LeafFrame, p: Buffer, start: boolean): void {
    if (!this.convert) {
      if (has8bit(p)) {
        if (f.convertible) this.markLeaf(f);
        else this.residual8bit = true;
      }
      return;
    }
    if (!f.encoder) { this.emit(p); return; }
    // The last line break of a part belongs to the boundary line after it (RFC 2046 §5.1.1): held until the next
    // line shows whether one follows.
    if (start && f.held) { this.emit(f.encoder.write(f.held)); f.held = undefined; }
    let content = p;
    if (p[p.length - 1] === 0x0a) {
      const breakLen = p.length >= 2 && p[p.length - 2] === 0x0d ? 2 : 1;
      content = p.subarray(0, p.length - breakLen);
      f.held = p.subarray(p.length - breakLen);
    }
    this.emit(f.encoder.write(content));
  }

  private markLeaf(f: LeafFrame): void {
    if (this.plan.leaves.has(f.index)) return;
    this.plan.leaves.add(f.index);
    for (const c of this.stack) if ((c.kind === 'multipart' || c.kind === 'message') && c.label8bit) this.plan.composites.add(c.index);
  }
}

/** Finds what a 7-bit downgrade of the message would convert. */
export async function scanSevenBit(source: AsyncIterable<Buffer>): Promise<SevenBitScan> {
  const plan: SevenBitPlan = { leaves: new Set(), composites: new Set() };
  const w = new Walker(plan, false);
  for await (const c of source) w.write(c as Buffer);
  w.end();
  return { eightBit: w.eightBit, residual8bit: w.residual8bit, header8bit: w.header8bit, plan };
}

/** The message with the leaves of `plan` (from `scanSevenBit` over the same bytes) re-encoded to 7 bits. */
export async function* sevenBitStream(source: AsyncIterable<Buffer>, plan: SevenBitPlan): AsyncGenerator<Buffer> {
  const w = new Walker(plan, true);
  for await (const c of source) {
    const out = w.write(c as Buffer);
    if (out.length) yield Buffer.concat(out);
  }
  const out = w.end();
  if (out.length) yield Buffer.concat(out);
}
