// 7z archives for the header reader's tests: made by 7-Zip itself (7zz), and remade with the header packed as other
// writers (or a hostile sender) pack it: by LZMA2 (xz) or a coder the gateway does not decode, with or without the
// CRC of the unpacked header. 7-Zip only ever packs its header with LZMA, so these are built here byte by byte.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';

/** The archive 7zz makes of `files` (path → content; a path ending in / a folder) with `switches`. */
export function made7z(files: Record<string, Buffer | string>, switches: string[] = []): Buffer {
  const work = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-7z-'));
  try {
    const tree = path.join(work, 'tree');
    mkdirSync(tree);
    for (const [name, content] of Object.entries(files)) {
      const target = path.join(tree, name);
      mkdirSync(name.endsWith('/') ? target : path.dirname(target), { recursive: true });
      if (!name.endsWith('/')) writeFileSync(target, content);
    }
    const archive = path.join(work, 'out.7z');
    execFileSync('7zz', ['a', '-bso0', '-bsp0', ...switches, archive, '.'], { cwd: tree });
    return readFileSync(archive);
  } finally { rmSync(work, { recursive: true, force: true }); }
}

/** A 7z NUMBER as the format writes it: one byte below 0x80, two below 0x4000, else 0xff and eight bytes. */
function sevenZipNumber(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x4000) return Buffer.from([0x80 | (n >> 8), n & 0xff]);
  const wide = Buffer.alloc(9);
  wide[0] = 0xff;
  wide.writeBigUInt64LE(BigInt(n), 1);
  return wide;
}

/** Where the header of `archive` starts, and its bytes. */
export function headerOf(archive: Buffer): { at: number; header: Buffer } {
  const at = 32 + Number(archive.readBigUInt64LE(12));
  return { at, header: archive.subarray(at, at + Number(archive.readBigUInt64LE(20))) };
}

/** `archive` with its bytes from `at` on replaced by `packed` then `header`, and its start header made to agree. */
export function withNewEnd(archive: Buffer, at: number, packed: Buffer, header: Buffer): Buffer {
  const start = Buffer.from(archive.subarray(0, 32));
  start.writeBigUInt64LE(BigInt(at - 32 + packed.length), 12);
  start.writeBigUInt64LE(BigInt(header.length), 20);
  start.writeUInt32LE(crc32(header), 28);
  start.writeUInt32LE(crc32(start.subarray(12, 32)), 8);
  return Buffer.concat([start, archive.subarray(32, at), packed, header]);
}

export interface HeaderPacking {
  /** The coder's method id (`21` LZMA2). */
  method: string;
  properties: Buffer;
  /** The plain header as that coder packs it. */
  pack: (plain: Buffer) => Buffer;
  /** The unpacked size the encoded header states, instead of the real one. */
  statedSize?: number;
  /** Leave out the CRC of the unpacked header. */
  noCrc?: boolean;
}

/** `plain` (an archive with a plain header, `7zz -mhc=off`) with its header packed as `how` says. */
export function repacked(plain: Buffer, how: HeaderPacking): Buffer {
  const { at, header } = headerOf(plain);
  const packed = how.pack(header);
  const id = Buffer.from(how.method, 'hex');
  const encoded = Buffer.concat([
    Buffer.from([0x17, 0x06]), sevenZipNumber(at - 32), Buffer.from([0x01, 0x09]), sevenZipNumber(packed.length), Buffer.from([0x00]),
    Buffer.from([0x07, 0x0b, 0x01, 0x00, 0x01, 0x20 | id.length]), id, sevenZipNumber(how.properties.length), how.properties,
    Buffer.from([0x0c]), sevenZipNumber(how.statedSize ?? header.length),
    how.noCrc ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, 0x01]), u32(crc32(header))]),
    Buffer.from([0x00, 0x00]),
  ]);
  return withNewEnd(plain, at, packed, encoded);
}

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };

/** A raw LZMA2 stream of `plain`, as xz writes it; its 7z property byte 16 says a 1 MB dictionary. */
export const LZMA2_BY_XZ: HeaderPacking = {
  method: '21',
  properties: Buffer.from([16]),
  pack: (plain) => execFileSync('xz', ['--format=raw', '--lzma2=dict=1MiB', '-c'], { input: plain }),
};

/** A raw LZMA stream of `plain` as xz writes it (lc 1, lp 2, pb 0, unlike 7-Zip's 3, 0, 2), with its end marker. */
export const LZMA_BY_XZ: HeaderPacking = {
  method: '030101',
  properties: Buffer.from([(0 * 5 + 2) * 9 + 1, 0, 0, 0x10, 0]),
  pack: (plain) => execFileSync('xz', ['--format=raw', '--lzma1=lc=1,lp=2,pb=0,dict=1MiB', '-c'], { input: plain }),
};

/** A coder the gateway does not decode (PPMd): what it packs is never looked at. */
export const PPMD_STAND_IN: HeaderPacking = {
  method: '030401',
  properties: Buffer.from([6, 0, 0, 0, 1]),
  pack: (plain) => Buffer.from(plain).reverse(),
};
