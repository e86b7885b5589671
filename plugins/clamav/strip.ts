// Replaces each infected MIME part of a message with a short text notice, keeping every other byte as it was.
import { decodeLeaf, leafParts, replaceLeaves, type LeafEdit, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import type { ScanResult } from './scan-result.ts';

export interface StrippedPart {
  filename?: string;
  contentType: string;
  viruses: string[];
}

export interface StripResult {
  raw: Buffer;
  removed: StrippedPart[];
}

const CONTENT_HEADERS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id']);

/** Fills `{virus}` and `{filename}` in the notice template. */
export function noticeText(template: string, part: StrippedPart): string {
  return template.replaceAll('{virus}', part.viruses.join(', ')).replaceAll('{filename}', part.filename ?? 'unnamed');
}

/** Builds the replacement for one leaf: content headers and the notice, as a latin1 string. */
function replacement(leaf: MimeLeaf, notice: string): string {
  const noticeHead = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Disposition: inline\r\n';
  const body = Buffer.from(notice, 'utf8').toString('latin1');
  if (leaf.start !== 0) return `${noticeHead}\r\n${body}`; // the line break before the next delimiter stays outside the part
  // A single-part message: keep its own non-content fields (From, Subject, Received...).
  const kept = leaf.headers.filter((h) => !CONTENT_HEADERS.has(h.name) && h.name !== 'mime-version').map((h) => `${h.raw}\r\n`).join('');
  return `${kept}MIME-Version: 1.0\r\n${noticeHead}\r\n${body}\r\n`;
}

/**
 * Scans every leaf part on its own and replaces the infected ones.
 * @param scan scans one decoded part
 * @param notice text for a removed part
 * @param viruses what the scan of the whole message found: blamed on the only part of a single-part message
 *   when its content alone does not match (a signature may need the mail around it); the caller's rescan of
 *   the result catches a wrong blame
 */
export async function stripInfected(raw: Buffer, scan: (content: Buffer) => Promise<ScanResult>, notice: (part: StrippedPart) => string, viruses: string[] = []): Promise<StripResult> {
  const text = raw.toString('latin1');
  const leaves = leafParts(text);
  const removed: StrippedPart[] = [];
  const edits: LeafEdit[] = [];
  for (const leaf of leaves) {
    let result = await scan(decodeLeaf(text, leaf));
    if (!result.infected && leaves.length === 1 && viruses.length) result = { infected: true, viruses };
    if (!result.infected) continue;
    const filename = leaf.filename === undefined ? undefined : Buffer.from(leaf.filename, 'latin1').toString('utf8');
    const part = { filename, contentType: leaf.contentType, viruses: result.viruses };
    removed.push(part);
    edits.push({ leaf, with: replacement(leaf, notice(part)) });
  }
  return { raw: Buffer.from(replaceLeaves(text, edits), 'latin1'), removed };
}
