// Builds ZIP archives byte by byte for the archive reader's tests, honest ones and ones with their counts, offsets
// and flags set as a hostile sender would set them.
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntryInput {
  name: string;
  data?: Buffer;
  /** Deflate it (method 8) instead of storing it. */
  deflate?: boolean;
  /** General purpose flags, as written (0x1 encrypted, 0x800 UTF-8 name). */
  flags?: number;
  /** An Info-ZIP Unicode path extra field (0x7075) with this name. */
  unicodePath?: string;
  /** The local header offset the directory states, instead of the real one. */
  localOffset?: number;
  /** The name's bytes, instead of `name` in UTF-8 (for a code page 437 name). */
  nameBytes?: Buffer;
  /** The bytes written as its data, already compressed (with `deflate`), instead of `data` compressed here. */
  packed?: Buffer;
  /** The extracted size both headers state, instead of `data`'s. */
  statedSize?: number;
  /** The CRC-32 both headers state, instead of `data`'s. */
  statedCrc?: number;
}

export interface ZipOptions {
  /** Bytes in front of the archive (a self-extractor's program, say). */
  prefix?: Buffer;
  /** The entry count the end record states, instead of the real one. */
  statedCount?: number;
  /** The directory size the end record states, instead of the real one. */
  statedDirectorySize?: number;
  comment?: string;
}

/** A little-endian field: its width in bytes and its value. */
export type Field = [2 | 4, number];

/** A header of `size` bytes holding `fields` one after the other from its start. */
export function record(size: number, fields: Field[]): Buffer {
  const b = Buffer.alloc(size);
  let at = 0;
  for (const [width, value] of fields) {
    if (width === 2) b.writeUInt16LE(value, at);
    else b.writeUInt32LE(value, at);
    at += width;
  }
  return b;
}

export function buildZip(entries: ZipEntryInput[], opts: ZipOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = opts.prefix?.length ?? 0;
  const start = offset;
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    const packed = e.packed ?? (e.deflate ? deflateRawSync(data) : data);
    const name = e.nameBytes ?? Buffer.from(e.name, 'utf8');
    let extra = Buffer.alloc(0);
    if (e.unicodePath !== undefined) {
      const path = Buffer.from(e.unicodePath, 'utf8');
      extra = Buffer.alloc(4 + 5 + path.length);
      extra.writeUInt16LE(0x7075, 0);
      extra.writeUInt16LE(5 + path.length, 2);
      extra.writeUInt8(1, 4);
      extra.writeUInt32LE(crc32(name), 5);
      path.copy(extra, 9);
    }
    const flags = e.flags ?? 0;
    const method = e.deflate ? 8 : 0;
    const crc = e.statedCrc ?? crc32(data);
    // The central header is the local one with "version made by" in front and more fields after.
    const common: Field[] = [[2, 20], [2, flags], [2, method], [4, 0], [4, crc], [4, packed.length], [4, e.statedSize ?? data.length], [2, name.length]];
    locals.push(record(30, [[4, 0x04034b50], ...common]), name, packed);
    const central = record(46, [[4, 0x02014b50], [2, 20], ...common, [2, extra.length], [2, 0], [2, 0], [2, 0], [4, 0], [4, e.localOffset ?? offset - start]]);
    centrals.push(central, name, extra);
    offset += 30 + name.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const comment = Buffer.from(opts.comment ?? '', 'latin1');
  const count = opts.statedCount ?? entries.length;
  const end = record(22, [[4, 0x06054b50], [2, 0], [2, 0], [2, count], [2, count], [4, opts.statedDirectorySize ?? directory.length], [4, offset - start], [2, comment.length]]);
  return Buffer.concat([opts.prefix ?? Buffer.alloc(0), ...locals, directory, end, comment]);
}

/** A Windows program's first bytes, enough for the type detection. */
export const PROGRAM = Buffer.concat([Buffer.from('MZ\x90\x00\x03\x00\x00\x00', 'latin1'), Buffer.alloc(120, 0x41)]);
