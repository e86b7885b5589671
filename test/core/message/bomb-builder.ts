// Builds a zip bomb for the archive reader's tests without ever holding what it inflates to: a ZIP storing `mb`
// megabytes of zeros, deflated as an entry of another ZIP would be. Deflate blocks ended by a full flush start afresh and
// end on a byte boundary, so the compressed form of 1 MB of zeros, written again and again, is a valid stream of any
// multiple of it, as a real compressor would make (some 1 KB per MB).
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { record, type Field } from './zip-builder.ts';

const MB = 1024 * 1024;
const ZEROS = Buffer.alloc(MB);

/** A bomb's deflated bytes, with the size and CRC-32 of what they inflate to, as its outer archive states them. */
export interface DeflatedBomb { packed: Buffer; size: number; crc: number }

/** CRC-32 of `mb` megabytes of zeros, continuing from `from`. */
function zerosCrc(mb: number, from = 0): number {
  let crc = from;
  for (let i = 0; i < mb; i++) crc = crc32(ZEROS, crc);
  return crc;
}

/** A ZIP storing `mb` megabytes of zeros as `name` (under 4 GB: no ZIP64), deflated. */
export function deflatedZeroBomb(mb: number, name = 'zeros.bin'): DeflatedBomb {
  const size = mb * MB;
  const fileName = Buffer.from(name);
  const fileCrc = zerosCrc(mb);
  const common: Field[] = [[2, 10], [2, 0], [2, 0], [4, 0], [4, fileCrc], [4, size], [4, size], [2, fileName.length]];
  const head = Buffer.concat([record(30, [[4, 0x04034b50], ...common, [2, 0]]), fileName]);
  const central = Buffer.concat([record(46, [[4, 0x02014b50], [2, 10], ...common, [2, 0], [2, 0], [2, 0], [2, 0], [4, 0], [4, 0]]), fileName]);
  const end = record(22, [[4, 0x06054b50], [2, 0], [2, 0], [2, 1], [2, 1], [4, central.length], [4, head.length + size], [2, 0]]);
  const tail = Buffer.concat([central, end]);
  const flushed = (b: Buffer) => deflateRawSync(b, { finishFlush: constants.Z_FULL_FLUSH });
  const zerosBlock = flushed(ZEROS);
  const packed = Buffer.concat([flushed(head), ...Array<Buffer>(mb).fill(zerosBlock), deflateRawSync(tail)]);
  return { packed, size: head.length + size + tail.length, crc: crc32(tail, zerosCrc(mb, crc32(head))) };
}
