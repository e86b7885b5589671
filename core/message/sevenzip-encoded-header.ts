// A 7z's compressed header: 7-Zip packs the header (the list of files) by default, and writes in its place an
// "encoded header" saying where the packed bytes lie, which coder packed them, how large the header is once
// unpacked, and its CRC. LZMA (7-Zip's choice) and LZMA2 are decoded here, into no more than the size declared, which
// is held to a cap and paid from the message's listing budget before anything is allocated. AES means the names are
// encrypted; any other coder leaves the names unread (unlisted), which says so rather than calling the archive damaged.
import { crc32 } from 'node:zlib';
import { readExactly, type ByteSource } from './byte-source.ts';
import { HeaderDamaged } from './header-cursor.ts';
import { decodeLzma } from './lzma-decoder.ts';
import { decodeLzma2 } from './lzma2-decoder.ts';
import type { Streams } from './sevenzip-streams.ts';
import { ARCHIVE_MAX_BYTES, type ArchiveListing, type ListingBudget } from './zip-listing.ts';

/**
 * The largest header decompressed. That of a 7z of 10,000 files (as many as a message's archives list) with
 * 60-character names takes some 1.3 MB, so 4 MB leaves room; a header that states more is refused, not allocated.
 */
export const MAX_DECODED_HEADER = 4 * 1024 * 1024;

const START_HEADER = 32;

type Decoder = (packed: Buffer, properties: Buffer, size: number) => Buffer;

const DECODERS = new Map<string, Decoder>([['030101', decodeLzma], ['21', decodeLzma2]]);

/** Methods a header may name, so that an unlisted archive says which one it was. */
const METHOD_NAMES = new Map<string, string>([
  ['00', 'Copy'], ['030101', 'LZMA'], ['21', 'LZMA2'], ['030401', 'PPMd'], ['040108', 'Deflate'], ['040109', 'Deflate64'],
  ['040202', 'BZip2'], ['03030103', 'BCJ'], ['0303011b', 'BCJ2'], ['03', 'Delta'], ['06f10701', 'AES'],
]);

const ENCRYPTED_HEADER = 'its list of files is encrypted (7z -mhe): not even the names in it can be read';

const unreadable = (why: string): ArchiveListing => ({ entries: [], encrypted: false, unreadable: why });

/**
 * The header the encoded header `streams` describes, unpacked from `src`; or, when it is not to be had, the listing
 * that says why (encrypted, unlisted, unreadable). Throws HeaderDamaged or LzmaDamaged for what is damaged.
 */
export function decodeEncodedHeader(streams: Streams, src: ByteSource, budget: ListingBudget): Buffer | ArchiveListing {
  if (streams.folders.some((f) => f.encrypted)) return { entries: [], encrypted: true, unreadable: ENCRYPTED_HEADER };
  // 7-Zip itself reads exactly one folder here: its output is the header.
  if (streams.folders.length !== 1) throw new HeaderDamaged(`its compressed header is in ${streams.folders.length} folders`);
  const folder = streams.folders[0];
  const decode = folder.coders.length === 1 ? DECODERS.get(folder.coders[0].id.toString('hex')) : undefined;
  if (!decode) {
    const methods = folder.coders.map((k) => METHOD_NAMES.get(k.id.toString('hex')) ?? `method ${k.id.toString('hex') || '(none)'}`).join(' + ');
    return { entries: [], encrypted: false, unlisted: `its list of files is compressed with ${methods}, which the gateway does not decompress` };
  }
  if (folder.packedStreams !== 1 || streams.packSizes.length !== 1) throw new HeaderDamaged(`its compressed header is in ${streams.packSizes.length} packed streams`);
  if (folder.size > MAX_DECODED_HEADER) return unreadable(`its list of files would decompress to ${folder.size} bytes, over the ${MAX_DECODED_HEADER} the gateway decompresses`);
  const at = START_HEADER + streams.packPosition;
  const packedSize = streams.packSizes[0];
  if (at + packedSize > src.size) return unreadable('it is cut short: its compressed header lies past its end');
  if (packedSize + folder.size > budget.bytes) return unreadable(`its header is over what the gateway reads of a message's archives (${ARCHIVE_MAX_BYTES} bytes in all)`);
  const packed = readExactly(src, at, packedSize);
  if (!packed) return unreadable('its compressed header is not within the part of the attachment that was kept');
  budget.bytes -= packedSize + folder.size;
  const header = decode(packed, folder.coders[0].properties, folder.size);
  if (folder.crc !== undefined && crc32(header) !== folder.crc) return unreadable('its header fails its CRC once decompressed');
  return header;
}
