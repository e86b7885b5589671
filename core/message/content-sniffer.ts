// What an attachment's bytes say it is, learnt as its content streams through the parse: the type its first bytes
// name (file-magic.ts) and, for a ZIP, RAR or 7z archive, the names inside it (archive-listing.ts). An attachment the
// parsed view does not keep is not held for this either: only its start and its last ARCHIVE_TAIL_BYTES are, while it
// streams.
import { wholeSource, windowSource, type ByteSource } from './byte-source.ts';
import { detectFileType, MAGIC_HEAD_BYTES } from './file-magic.ts';
import { listArchive } from './archive-listing.ts';
import type { ArchiveListing, ListingBudget } from './zip-listing.ts';

/**
 * Of an attachment whose content is not kept, its last bytes held while it streams: a ZIP's end record and central
 * directory are there (10,000 entries of 60-character names take some 1 MB). A directory that starts before them
 * makes the archive `unreadable`.
 */
export const ARCHIVE_TAIL_BYTES = 1024 * 1024 + 64 * 1024;

export interface ContentFacts {
  /** The type the first bytes name; absent when they name none the table knows. */
  detectedType?: string;
  /** For an archive (a RAR or 7z by its first bytes, a ZIP by them or by an end record found at its end): its entries. */
  archive?: ArchiveListing;
}

/**
 * Office Open XML documents by their main part, as Word, Excel and PowerPoint (and LibreOffice) write it, plain and
 * with macros (a `vbaProject.bin` in its folder).
 */
const OFFICE_KINDS: ReadonlyArray<[main: string, plain: string, macros: string]> = [
  ['word/document.xml', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'application/vnd.ms-word.document.macroenabled.12'],
  ['xl/workbook.xml', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'application/vnd.ms-excel.sheet.macroenabled.12'],
  ['ppt/presentation.xml', 'application/vnd.openxmlformats-officedocument.presentationml.presentation', 'application/vnd.ms-powerpoint.presentation.macroenabled.12'],
];

/**
 * The Office document type of a ZIP that is one (a `[Content_Types].xml` and a main part), so that a rule on
 * `application/zip` means archives and a .docx is not taken for one; undefined for any other ZIP. The main part, not
 * any file in `word/`: else a program packed beside an empty `[Content_Types].xml` and a `word/x` would pass a rule
 * on `application/zip`. An archive not read in full may hide anything, and Office never encrypts inside its ZIP (an
 * encrypted document is an OLE2 file): both stay archives.
 */
function officeType(archive: ArchiveListing): string | undefined {
  if (archive.unreadable !== undefined || archive.encrypted) return undefined;
  const paths = new Set(archive.entries.filter((e) => !e.within).map((e) => e.names[0]));
  if (!paths.has('[Content_Types].xml')) return undefined;
  for (const [main, plain, macros] of OFFICE_KINDS) {
    if (!paths.has(main)) continue;
    return paths.has(`${main.slice(0, main.indexOf('/') + 1)}vbaProject.bin`) ? macros : plain;
  }
  return undefined;
}

/** The facts of a file whose bytes can be read from `src`. */
export function contentFacts(src: ByteSource, budget: ListingBudget): ContentFacts {
  const head = src.readUpTo(0, MAGIC_HEAD_BYTES);
  let detectedType = head ? detectFileType(head) : undefined;
  const archive = listArchive(src, budget, detectedType);
  if (archive && detectedType === 'application/zip') detectedType = officeType(archive) ?? detectedType;
  return { ...(detectedType ? { detectedType } : {}), ...(archive ? { archive } : {}) };
}

/** Takes an attachment's decoded content chunk by chunk, keeping only its start and its end. */
export class ContentSniffer {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private size = 0;

  write(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.headBytes < MAGIC_HEAD_BYTES) {
      const piece = chunk.subarray(0, MAGIC_HEAD_BYTES - this.headBytes);
      this.head.push(piece);
      this.headBytes += piece.length;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    // Whole chunks dropped from the front, no copying: at most one chunk more than the bound is held.
    while (this.tail.length > 1 && this.tailBytes - this.tail[0].length >= ARCHIVE_TAIL_BYTES) this.tailBytes -= this.tail.shift()!.length;
  }

  /** The facts, from `whole` (the content, when the view kept it) or else from the start and end held. */
  finish(budget: ListingBudget, whole?: Buffer): ContentFacts {
    const src = whole ? wholeSource(whole) : windowSource(this.size, Buffer.concat(this.head), Buffer.concat(this.tail, this.tailBytes));
    this.head.length = 0;
    this.tail.length = 0;
    return contentFacts(src, budget);
  }
}
