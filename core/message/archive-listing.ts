// The names inside an attachment that is an archive, whatever its format: the one place the message's facts ask, so
// that the attachment criteria read ZIP, RAR and 7z entries alike. Each format has its own reader; they share the
// message's ListingBudget and the listing shape (zip-listing.ts). An archive of any of these formats found in a ZIP,
// stored or deflated, is listed here in turn by its own reader.
import type { ByteSource } from './byte-source.ts';
import { listRar } from './rar-listing.ts';
import { listSevenZip } from './sevenzip-listing.ts';
import { listZip, type ArchiveListing, type ListingBudget } from './zip-listing.ts';

/**
 * The listing of the archive in `src`, by the type its first bytes name (`detectedType`, file-magic.ts); undefined
 * when it is none. A RAR or 7z that also ends in a ZIP's directory (one file that both programs open) gets the ZIP's
 * entries too: Windows opens a file named .zip as a ZIP whatever its first bytes. Any other file is still searched for
 * a ZIP's end record, as archive programs do for a ZIP behind a self-extractor. `depth` is how deep in archives `src`
 * lies: the attachment itself is 1.
 */
export function listArchive(src: ByteSource, budget: ListingBudget, detectedType: string | undefined, depth = 1): ArchiveListing | undefined {
  const own = detectedType === 'application/vnd.rar' ? listRar(src, budget)
    : detectedType === 'application/x-7z-compressed' ? listSevenZip(src, budget)
    : undefined;
  const zip = listZip(src, budget, detectedType === 'application/zip', depth, (inner, type) => listArchive(inner, budget, type, depth + 1));
  if (!own || !zip) return own ?? zip;
  return {
    entries: [...own.entries, ...zip.entries],
    encrypted: own.encrypted || zip.encrypted,
    ...(own.unreadable ?? zip.unreadable ? { unreadable: own.unreadable ?? zip.unreadable } : {}),
    ...(own.unlisted ? { unlisted: own.unlisted } : {}),
  };
}
