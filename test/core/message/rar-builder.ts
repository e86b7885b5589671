// Builds RAR archives byte by byte for the archive readers' tests. No free program writes RAR (rarlab's `rar` is
// non-free, 7-Zip and libarchive only read it), so the bytes are laid out by the format's own descriptions: RAR 5 by
// rarlab.com's technote "RAR 5.0 archive format", RAR 4 by the technote of RAR 1.5 to 4.x. Files are stored (no
// compression) with their real CRCs, so that unrar-free (libarchive) lists and extracts them: the tests check that a
// built archive is one a real RAR reader takes, before the gateway's reader is asked about it.
import { crc32 } from 'node:zlib';

export interface RarFileInput {
  name: string;
  data?: Buffer;
  directory?: boolean;
  /** Marked encrypted (the data is not really encrypted: only the header's word is tested). */
  encrypted?: boolean;
  /** RAR 4 only: the name's OEM bytes, then the packed Unicode name after a zero byte (instead of `name` in OEM). */
  rar4Name?: Buffer;
}

export interface RarOptions {
  /** The headers after the main one are encrypted (`rar -hp`): random bytes stand for them. */
  headersEncrypted?: boolean;
  /** A service header (an archive comment, `CMT`) before the files. */
  comment?: boolean;
  /** Leave out the end-of-archive header. */
  noEnd?: boolean;
}

/** A RAR 5 vint: seven bits a byte, low bits first, the high bit saying another byte follows. */
export function vint(n: number): Buffer {
  const out: number[] = [];
  do {
    const low = n % 128;
    n = Math.floor(n / 128);
    out.push(n > 0 ? low | 0x80 : low);
  } while (n > 0);
  return Buffer.from(out);
}

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };

export const RAR5_SIGNATURE = Buffer.from('Rar!\x1a\x07\x01\x00', 'latin1');
export const RAR4_SIGNATURE = Buffer.from('Rar!\x1a\x07\x00', 'latin1');

/** A RAR 5 header: CRC32 of the size field and the header data, the size as a vint, then the header data. */
export function rar5Header(data: Buffer): Buffer {
  const size = vint(data.length);
  return Buffer.concat([u32(crc32(Buffer.concat([size, data]))), size, data]);
}

function rar5File(f: RarFileInput): Buffer {
  const data = f.data ?? Buffer.alloc(0);
  const name = Buffer.from(f.name, 'utf8');
  // An encryption record (type 1): version 0 (AES-256), no flags, KDF count 15, salt and IV; the data is not touched.
  const record = f.encrypted ? Buffer.concat([vint(1), vint(0), vint(0), Buffer.from([15]), Buffer.alloc(16, 7), Buffer.alloc(16, 9)]) : undefined;
  const extra = record ? Buffer.concat([vint(record.length), record]) : Buffer.alloc(0);
  const flags = 0x2 | (extra.length ? 0x1 : 0);
  const fields = Buffer.concat([
    vint(2), vint(flags), ...(extra.length ? [vint(extra.length)] : []), vint(data.length),
    vint(0x4 | (f.directory ? 0x1 : 0)), vint(data.length), vint(f.directory ? 0x10 : 0x20), u32(crc32(data)),
    vint(0), vint(0), vint(name.length), name, extra,
  ]);
  return Buffer.concat([rar5Header(fields), data]);
}

/** A RAR 5 archive of `files`. */
export function buildRar5(files: RarFileInput[], opts: RarOptions = {}): Buffer {
  const parts: Buffer[] = [RAR5_SIGNATURE];
  if (opts.headersEncrypted) {
    // Archive encryption header (type 4): version 0, no flags, KDF count 15, salt; what follows is encrypted.
    parts.push(rar5Header(Buffer.concat([vint(4), vint(0), vint(0), vint(0), Buffer.from([15]), Buffer.alloc(16, 3)])));
    parts.push(Buffer.alloc(96, 0xa5));
    return Buffer.concat(parts);
  }
  parts.push(rar5Header(Buffer.concat([vint(1), vint(0), vint(0)])));
  if (opts.comment) {
    // A service header (type 3) named CMT, its data the comment.
    const text = Buffer.from('a comment');
    const name = Buffer.from('CMT');
    parts.push(rar5Header(Buffer.concat([vint(3), vint(0x2), vint(text.length), vint(0x4), vint(text.length), vint(0), u32(crc32(text)), vint(0), vint(0), vint(name.length), name])), text);
  }
  for (const f of files) parts.push(rar5File(f));
  if (!opts.noEnd) parts.push(rar5Header(Buffer.concat([vint(5), vint(0), vint(0)])));
  return Buffer.concat(parts);
}

/** A RAR 4 block: HEAD_CRC (the low 16 bits of the CRC32 of the rest of the header), then the rest. */
function rar4Block(type: number, flags: number, body: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from([type]), u16(flags), u16(7 + body.length), body]);
  return Buffer.concat([u16(crc32(rest) & 0xffff), rest]);
}

function rar4File(f: RarFileInput): Buffer {
  const data = f.data ?? Buffer.alloc(0);
  const name = f.rar4Name ?? Buffer.from(f.name, 'latin1');
  const flags = 0x8000 | (f.rar4Name ? 0x200 : 0) | (f.encrypted ? 0x4 : 0) | (f.directory ? 0xe0 : 0);
  const body = Buffer.concat([
    u32(data.length), u32(data.length), Buffer.from([2]), u32(crc32(data)), u32(0x5a210000), Buffer.from([20, 0x30]),
    u16(name.length), u32(f.directory ? 0x10 : 0x20), name,
  ]);
  return Buffer.concat([rar4Block(0x74, flags, body), data]);
}

/** A RAR 4 archive of `files`. */
export function buildRar4(files: RarFileInput[], opts: RarOptions = {}): Buffer {
  const parts: Buffer[] = [RAR4_SIGNATURE, rar4Block(0x73, opts.headersEncrypted ? 0x80 : 0, Buffer.alloc(6))];
  if (opts.headersEncrypted) return Buffer.concat([...parts, Buffer.alloc(96, 0xa5)]);
  for (const f of files) parts.push(rar4File(f));
  if (!opts.noEnd) parts.push(rar4Block(0x7b, 0x4000, Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/**
 * A RAR 4 name field with a packed Unicode name that uses only two-byte characters (kind 2 for each): the OEM bytes,
 * a zero, the shared high byte (unused here), then a flag byte per four characters followed by their bytes.
 */
export function rar4UnicodeField(oem: string, unicode: string): Buffer {
  const packed: number[] = [0];
  const units = [...Buffer.from(unicode, 'utf16le')];
  for (let i = 0; i < units.length; i += 8) {
    const group = units.slice(i, i + 8);
    packed.push([0, 1, 2, 3].reduce((flags, k) => (k * 2 < group.length ? flags | (2 << (6 - 2 * k)) : flags), 0), ...group);
  }
  return Buffer.concat([Buffer.from(oem, 'latin1'), Buffer.from([0]), Buffer.from(packed)]);
}
