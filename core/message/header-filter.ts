// Removes header fields by name from a message as its bytes pass, however long its header section runs.
//
// The relay sends a queued message through this filter when fields must go (a client's forged X-Mailmoat-* fields, a
// Subject being replaced). Everything else leaves byte for byte as it came: line ends, lines that are not fields,
// the body. Only the start of the current line is held back, and only until its field name is known.

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
/** A line with no colon in its first bytes is not a field (RFC 5322 caps a line at 998 characters). */
const NAME_LIMIT = 1000;

/**
 * The test for a queue entry's `remove` list: lower-case field names, where a name ending in `*` stands for every
 * name that starts with what precedes it (`x-mailmoat-*`).
 */
export function fieldRemoval(remove: readonly string[]): (lowerName: string) => boolean {
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const r of remove) {
    if (r.endsWith('*')) prefixes.push(r.slice(0, -1));
    else names.add(r);
  }
  return (name) => names.has(name) || prefixes.some((p) => name.startsWith(p));
}

type State = 'lineStart' | 'name' | 'rest' | 'body';

export class HeaderFieldFilter {
  private state: State = 'lineStart';
  /** The start of a line whose fate is not known yet: a lone CR, or a field name before its colon. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** The current field is being removed: its continuation lines go with it. */
  private dropping = false;
  /** No line of the header section has begun yet. */
  private atFirstLine = true;
  private readonly remove: (lowerName: string) => boolean;

  constructor(remove: (lowerName: string) => boolean) {
    this.remove = remove;
  }

  /** True once the blank line ending the header section has passed: from then on bytes pass untouched. */
  get pastHeader(): boolean { return this.state === 'body'; }

  /** The bytes of `chunk` that leave, in order (pieces of `chunk` itself, or held-back bytes released). */
  write(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === 'body') {
        out.push(i === 0 ? chunk : chunk.subarray(i));
        return out;
      }
      if (this.state === 'lineStart') {
        const b = chunk[i];
        if (this.pendingLength === 1) {
          // A CR began the line: CR LF is the blank line; a CR before anything else starts a line that is no field.
          if (b === LF) {
            this.release(out);
            out.push(chunk.subarray(i, i + 1));
            i++;
            this.state = 'body';
            continue;
          }
          this.keepLine(out);
          continue;
        }
        if (b === CR) { this.hold(chunk.subarray(i, i + 1)); i++; continue; }
        if (b === LF) { out.push(chunk.subarray(i, i + 1)); i++; this.state = 'body'; continue; }
        if (b === SP || b === HT) {
          // A continuation shares its field's fate. One that opens the header section continues no field of the
          // client's: behind the headers the gateway prepends it would fold into the last of them (appending
          // `; dkim=pass header.d=bank.example` to an Authentication-Results), so it goes, with any that follow it.
          if (this.atFirstLine) this.dropping = true;
          this.state = 'rest';
          continue;
        }
        this.atFirstLine = false;
        this.dropping = false;
        this.state = 'name';
        continue;
      }
      if (this.state === 'name') {
        const room = NAME_LIMIT - this.pendingLength;
        const limit = Math.min(n, i + room);
        let j = i;
        while (j < limit && chunk[j] !== COLON && chunk[j] !== LF) j++;
        if (j === n && n - i < room) { this.hold(chunk.subarray(i, n)); i = n; continue; }
        if (j < limit && chunk[j] === COLON) {
          const name = this.pendingText() + chunk.toString('latin1', i, j);
          const trimmed = name.trim().toLowerCase();
          this.dropping = trimmed !== '' && this.remove(trimmed);
          if (this.dropping) this.discard();
          else { this.release(out); out.push(chunk.subarray(i, j + 1)); }
          i = j + 1;
          this.state = 'rest';
          continue;
        }
        // A field name may be spaced from its colon by any amount of whitespace (obs-syntax, which mail servers
        // behind us still read as that field), so a start that is a name to remove and then only whitespace goes
        // even past the limit; its colon, if it ever comes, is not waited for. Anything else there is no field.
        if (j === limit && this.removesSpacedName(chunk.toString('latin1', i, limit))) {
          this.discard();
          this.dropping = true;
          i = limit;
          this.state = 'rest';
          continue;
        }
        // A line that is only a name to remove, its colon on the continuation line below (`X-Mailmoat-Spam` then
        // ` : No`): readers that unfold first (mailparser) see that field, so it goes, with its continuation lines.
        if (j < limit && chunk[j] === LF && this.removesBareName(chunk.toString('latin1', i, j))) {
          this.discard();
          this.dropping = true;
          this.state = 'rest';
          continue;
        }
        // An end of line, or too long a start, before any colon: not a field, so it is kept.
        this.keepLine(out);
        continue;
      }
      // 'rest': the remainder of a line, kept or removed as its field is.
      const end = chunk.indexOf(LF, i);
      const stop = end < 0 ? n : end + 1;
      if (!this.dropping) out.push(chunk.subarray(i, stop));
      i = stop;
      if (end >= 0) this.state = 'lineStart';
    }
    return out;
  }

  /** What is still held back when the message ends inside its header section: a start of line without a colon. */
  end(): Buffer[] {
    const out: Buffer[] = [];
    this.release(out);
    return out;
  }

  /** The current line is no field: what was held back of it leaves, and so does the rest of it. */
  private keepLine(out: Buffer[]): void {
    this.atFirstLine = false;
    this.release(out);
    this.dropping = false;
    this.state = 'rest';
  }

  /** The held start of a line and `more` of it, up to its end, are a name to remove and nothing else. */
  private removesBareName(more: string): boolean {
    const name = (this.pendingText() + more).replace(/[ \t\r]+$/, '');
    return name !== '' && !/[ \t]/.test(name) && this.remove(name.toLowerCase());
  }

  /** The held start of a line and `more` of it are a name to remove followed by nothing but spaces and tabs. */
  private removesSpacedName(more: string): boolean {
    const start = this.pendingText() + more;
    const name = start.replace(/[ \t]+$/, '');
    return name.length < start.length && !/[ \t]/.test(name) && this.remove(name.toLowerCase());
  }

  private hold(bytes: Buffer): void {
    // Copied: the caller may reuse the chunk it wrote.
    this.pending.push(Buffer.from(bytes));
    this.pendingLength += bytes.length;
  }

  private pendingText(): string {
    return this.pending.map((p) => p.toString('latin1')).join('');
  }

  private release(out: Buffer[]): void {
    for (const p of this.pending) out.push(p);
    this.discard();
  }

  private discard(): void {
    this.pending = [];
    this.pendingLength = 0;
  }
}

/** `message` (a whole message, or a header section) without the fields `remove` names, the rest byte for byte. */
export function withoutFields(message: Buffer, remove: (lowerName: string) => boolean): Buffer {
  const filter = new HeaderFieldFilter(remove);
  const parts = [...filter.write(message), ...filter.end()];
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** `source` without the fields `remove` names, streamed. */
export async function* streamWithoutFields(source: AsyncIterable<Buffer>, remove: (lowerName: string) => boolean): AsyncGenerator<Buffer> {
  const filter = new HeaderFieldFilter(remove);
  for await (const chunk of source) {
    if (filter.pastHeader) { yield chunk; continue; }
    for (const piece of filter.write(chunk)) yield piece;
  }
  for (const piece of filter.end()) yield piece;
}
