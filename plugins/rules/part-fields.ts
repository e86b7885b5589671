// The header section of one MIME part with some of its content fields written anew, every other byte as it was:
// a disclaimer that turns a part to UTF-8 or quoted-printable, a notice in place of an attachment.
import type { MimeLeaf } from '../../core/message/mime-leaves.ts';
import { mimeParamText, parseMimeValue } from '../../core/message/mime-params.ts';
import { QuotedPrintableEncoder, Base64Encoder } from '../../core/message/seven-bit-encoders.ts';
import { nextTurn } from '../../core/text/next-turn.ts';

/**
 * Where `field` (a whole field, folding kept) starts a line of `head`, or -1. Its text found inside another field's
 * value (`X-A: xContent-Transfer-Encoding: base64`) is not that field: cutting it there merges the next field into
 * X-A and leaves the real one in place.
 */
function fieldAt(head: string, field: string): number {
  for (let at = head.indexOf(field); at >= 0; at = head.indexOf(field, at + 1)) {
    if (at === 0 || head[at - 1] === '\n') return at;
  }
  return -1;
}

/**
 * The part's header section (from `leaf.start` to its body) with the fields named in `set` (lower-case names,
 * written as given) in place of the part's own, and those in `drop` gone; undefined when a field cannot be found
 * as it was read, so the caller leaves the part alone rather than write a second one beside it.
 */
export function editedHeader(text: string, leaf: MimeLeaf, set: ReadonlyArray<[name: string, value: string]>, drop: readonly string[] = []): string | undefined {
  let head = text.slice(leaf.start, leaf.bodyStart);
  const gone = new Set([...set.map(([n]) => n.toLowerCase()), ...drop]);
  for (const h of leaf.headers) {
    if (!gone.has(h.name)) continue;
    const at = fieldAt(head, `${h.raw}\r\n`);
    if (at < 0) return undefined;
    head = head.slice(0, at) + head.slice(at + h.raw.length + 2);
  }
  const added = set.map(([n, v]) => `${n}: ${v}\r\n`).join('');
  // The blank line that ends the section stays last; a part without one (no body) gets one.
  if (head === '\r\n' || head === '') return `${added}\r\n`;
  if (head.endsWith('\r\n\r\n')) return `${head.slice(0, -2)}${added}\r\n`;
  return `${head}${head.endsWith('\r\n') ? '' : '\r\n'}${added}\r\n`;
}

/**
 * A part as the structure check after an edit compares it: its depth, type and declared file names. An edit that
 * changes any of these for a part it did not mean to touch has written MIME structure no check saw.
 */
export const leafShape = (leaf: MimeLeaf): string => JSON.stringify([leaf.depth, leaf.contentType, leaf.names]);

/** A Content-Type value with its charset set to `charset`, its other parameters kept. */
export function withCharset(contentType: string, charset: string): string {
  const ct = parseMimeValue(contentType);
  const params = ct.all.filter(([n]) => n !== 'charset').map(([n, v]) => mimeParamText(n, v));
  return [ct.type || 'text/plain', mimeParamText('charset', charset), ...params].join('; ');
}

/** Bytes encoded between two turns of the event loop: a 24 MB part encoded in one go held it for a fifth of a second. */
const ENCODE_SLICE_BYTES = 1024 * 1024;

/** `bytes` in quoted-printable or base64 lines (as a latin1 string), a slice at a time, other clients served between. */
export async function encodedInTurns(cte: 'base64' | 'quoted-printable', bytes: Buffer): Promise<string> {
  const encoder = cte === 'base64' ? new Base64Encoder() : new QuotedPrintableEncoder();
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += ENCODE_SLICE_BYTES) {
    out.push(encoder.write(bytes.subarray(at, at + ENCODE_SLICE_BYTES)));
    if (at + ENCODE_SLICE_BYTES < bytes.length) await nextTurn();
  }
  out.push(encoder.end());
  return Buffer.concat(out).toString('latin1');
}
