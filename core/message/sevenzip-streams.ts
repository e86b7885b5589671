// The streams part of a 7z header (7-Zip's 7zFormat.txt): where the packed streams lie, the folders that decode them
// (each a chain of coders) and the files' streams in each folder. Both the header and an encoded header (the block
// that says how the compressed header is packed) describe their streams this way. Each count is checked against the
// bytes left, so a lying count ends in HeaderDamaged, not in a loop or an allocation of what it says.
import { HeaderCursor, HeaderDamaged } from './header-cursor.ts';

export const END = 0x00;
const PACK_INFO = 0x06;
const UNPACK_INFO = 0x07;
const SUBSTREAMS_INFO = 0x08;
const SIZE = 0x09;
const CRC = 0x0a;
const FOLDER = 0x0b;
const CODERS_UNPACK_SIZE = 0x0c;
const NUM_UNPACK_STREAM = 0x0d;

const AES = Buffer.from('06f10701', 'hex');
/** 7-Zip's own bound on the coders of a folder. */
const MAX_CODERS = 64;

/** One step of a folder's decoding: its method id (`030101` LZMA) and that method's properties. */
export interface Coder { id: Buffer; properties: Buffer; inputs: number; outputs: number }

/** A folder: coders whose output is one or more files' bytes one after the other. */
export interface Folder {
  coders: Coder[];
  outputs: number;
  mainOutput: number;
  /** How many packed streams it reads. */
  packedStreams: number;
  encrypted: boolean;
  /** The size of its main output. */
  size: number;
  /** The CRC of its main output, when the header gives it. */
  crc?: number;
}

export interface Streams {
  /** Where the packed streams start, counted from the end of the start header. */
  packPosition: number;
  packSizes: number[];
  folders: Folder[];
  streamsPerFolder: number[];
  sizes: number[];
}

/** A count of things each taking at least a byte of what is left: more is a header that lies. */
export function count(c: HeaderCursor): number {
  const n = c.sevenZipNumber();
  if (n > c.remaining) throw new HeaderDamaged(`it counts ${n} items in ${c.remaining} bytes`);
  return n;
}

function expect(c: HeaderCursor, id: number): void {
  const got = c.byte();
  if (got !== id) throw new HeaderDamaged(`property ${got} where ${id} belongs`);
}

/** A list of CRCs of `n` items, some or all of them given: each one given, or undefined. */
function readDigests(c: HeaderCursor, n: number): Array<number | undefined> {
  const given = c.byte() ? new Array<boolean>(n).fill(true) : c.bits(n);
  return given.map((g) => (g ? c.u32() : undefined));
}

export function readStreams(c: HeaderCursor): Streams {
  const streams: Streams = { packPosition: 0, packSizes: [], folders: [], streamsPerFolder: [], sizes: [] };
  let id = c.byte();
  if (id === PACK_INFO) {
    streams.packPosition = c.sevenZipNumber();
    const packed = count(c);
    for (let sub = c.byte(); sub !== END; sub = c.byte()) {
      if (sub === SIZE) for (let i = 0; i < packed; i++) streams.packSizes.push(c.sevenZipNumber());
      else if (sub === CRC) readDigests(c, packed);
      else throw new HeaderDamaged(`property ${sub} in the packed streams`);
    }
    id = c.byte();
  }
  if (id === UNPACK_INFO) {
    expect(c, FOLDER);
    const n = count(c);
    if (c.byte() !== 0) throw new HeaderDamaged('its folders are stored elsewhere');
    for (let i = 0; i < n; i++) streams.folders.push(readFolder(c));
    expect(c, CODERS_UNPACK_SIZE);
    for (const f of streams.folders) {
      for (let o = 0; o < f.outputs; o++) {
        const size = c.sevenZipNumber();
        if (o === f.mainOutput) f.size = size;
      }
    }
    for (let sub = c.byte(); sub !== END; sub = c.byte()) {
      if (sub !== CRC) throw new HeaderDamaged(`property ${sub} in the folders`);
      readDigests(c, n).forEach((crc, i) => { streams.folders[i].crc = crc; });
    }
    id = c.byte();
  }
  streams.streamsPerFolder = streams.folders.map(() => 1);
  if (id === SUBSTREAMS_INFO) {
    let sub = c.byte();
    if (sub === NUM_UNPACK_STREAM) {
      let total = 0;
      streams.streamsPerFolder = streams.folders.map(() => { const n = count(c); total += n; return n; });
      if (total > c.remaining) throw new HeaderDamaged(`it counts ${total} files' streams in ${c.remaining} bytes`);
      sub = c.byte();
    }
    const explicit = sub === SIZE;
    streams.folders.forEach((f, i) => {
      const n = streams.streamsPerFolder[i];
      if (n === 0) return;
      if (n > 1 && !explicit) throw new HeaderDamaged('a folder of many files gives no sizes');
      let sum = 0;
      for (let k = 1; k < n; k++) { const s = c.sevenZipNumber(); sum += s; streams.sizes.push(s); }
      if (sum > f.size) throw new HeaderDamaged('its files are larger than their folder');
      streams.sizes.push(f.size - sum);
    });
    if (explicit) sub = c.byte();
    for (; sub !== END; sub = c.byte()) {
      if (sub !== CRC) throw new HeaderDamaged(`property ${sub} in the files' streams`);
      const unknown = streams.folders.reduce((t, f, i) => t + (streams.streamsPerFolder[i] === 1 && f.crc !== undefined ? 0 : streams.streamsPerFolder[i]), 0);
      readDigests(c, unknown);
    }
    id = c.byte();
  } else {
    streams.sizes = streams.folders.map((f) => f.size);
  }
  if (id !== END) throw new HeaderDamaged(`property ${id} where the streams should end`);
  return streams;
}

function readFolder(c: HeaderCursor): Folder {
  const n = c.sevenZipNumber();
  if (n === 0 || n > MAX_CODERS) throw new HeaderDamaged(`a folder of ${n} coders`);
  const coders: Coder[] = [];
  let inputs = 0;
  let outputs = 0;
  for (let i = 0; i < n; i++) {
    const flags = c.byte();
    if (flags & 0x80) throw new HeaderDamaged('a coder with alternative methods');
    const coder: Coder = { id: c.take(flags & 0x0f), properties: Buffer.alloc(0), inputs: 1, outputs: 1 };
    if (flags & 0x10) { coder.inputs = count(c); coder.outputs = count(c); }
    if (flags & 0x20) coder.properties = c.take(c.sevenZipNumber());
    inputs += coder.inputs;
    outputs += coder.outputs;
    coders.push(coder);
  }
  if (outputs === 0) throw new HeaderDamaged('a folder without output');
  const bound = new Set<number>();
  for (let i = 0; i < outputs - 1; i++) { c.sevenZipNumber(); bound.add(c.sevenZipNumber()); }
  const packedStreams = inputs - (outputs - 1);
  if (packedStreams < 1) throw new HeaderDamaged('a folder without packed input');
  if (packedStreams > 1) for (let i = 0; i < packedStreams; i++) c.sevenZipNumber();
  let mainOutput = 0;
  while (bound.has(mainOutput)) mainOutput++;
  return { coders, outputs, mainOutput, packedStreams, encrypted: coders.some((k) => k.id.equals(AES)), size: 0 };
}
