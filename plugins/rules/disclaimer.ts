// The disclaimer action: a text added to the message's text body, in its plain part as text and in its HTML part as
// HTML, once per message, each part re-encoded in its own transfer encoding and charset (or turned to UTF-8 when
// the text does not fit that charset). Signed and encrypted mail is left alone: a changed part breaks the signature.
import { decodeLeaf, headerValue, leafParts, replaceLeaves, type LeafEdit, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { parseMimeValue } from '../../core/message/mime-params.ts';
import { decodeCharset, knowsCharset } from '../../core/text/charset.ts';
import { htmlText } from '../../core/message/html-text.ts';
import { isAscii } from '../../core/index.ts';
import { isTextBody } from './leaf-facts.ts';
import { editedHeader, encodedInTurns, leafShape, withCharset } from './part-fields.ts';
import { htmlInsertionPoint } from './html-insertion.ts';
import { nextTurn } from '../../core/text/next-turn.ts';
import type { Disclaimer } from './actions.ts';

/** Parts of signed or encrypted mail (RFC 1847 multiparts, S/MIME, PGP/MIME); a multipart/signed's signature is a leaf. */
const SEALED_TYPES = new Set([
  'multipart/signed', 'multipart/encrypted', 'application/pkcs7-mime', 'application/x-pkcs7-mime',
  'application/pkcs7-signature', 'application/x-pkcs7-signature', 'application/pgp-signature', 'application/pgp-encrypted',
]);
// Only at the start of a line, as PGP writes it: a sentence quoting the marker is not a signature.
const INLINE_PGP = /^-----BEGIN PGP (?:SIGNED )?MESSAGE-----/m;

/** Charsets in which ASCII is not one byte per character: nothing is spliced into those. */
const WIDE_CHARSET = /^(?:utf-16|utf-32|ucs-2|ucs-4|utf-7)/;

/** `expected`: the parts the result should read as (`leafShape` of each), the message's own, so the check need not walk it again. */
export type DisclaimerResult =
  | { added: true; text: string; parts: string[]; toUtf8: string[]; expected: string[] }
  | { added: false; why: string };

interface Body { leaf: MimeLeaf; html: boolean; charset: string; cte: string; bytes: string }

function bodyOf(text: string, leaf: MimeLeaf): Body {
  const charset = (parseMimeValue(headerValue(leaf.headers, 'content-type') ?? '').params.charset ?? '').trim().toLowerCase();
  const cte = (headerValue(leaf.headers, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  return { leaf, html: leaf.contentType === 'text/html', charset, cte, bytes: decodeLeaf(text, leaf).toString('latin1') };
}

/** Text as compared for "already there": quote marks of a reply and runs of white space do not count, nor case. */
const comparable = (s: string) => s.replace(/^[ \t]*(?:>[ \t]?)+/gm, '').replace(/\s+/g, ' ').trim().toLowerCase();

async function readable(b: Body): Promise<string> {
  const t = decodeCharset(b.bytes, b.charset);
  return b.html ? htmlText(t) : t;
}

/** HTML with every character beyond ASCII as a character reference: it then reads the same in any charset. */
const asciiHtml = (html: string) => html.replace(/[^\x00-\x7f]/gu, (c) => `&#x${c.codePointAt(0)!.toString(16)};`);

/** `piece` (bytes) put into the part's content (bytes) where the position says. */
function inserted(b: Body, content: string, piece: string, position: Disclaimer['position']): string {
  if (!b.html) {
    if (position === 'top') return `${piece}\r\n\r\n${content}`;
    return `${content}${content === '' || content.endsWith('\n') ? '' : '\r\n'}\r\n${piece}`;
  }
  const at = htmlInsertionPoint(content, position);
  return `${content.slice(0, at)}\r\n${piece}\r\n${content.slice(at)}`;
}

/** The edit of one body part, and whether it was turned to UTF-8; a reason instead when it cannot be done right. */
async function partEdit(text: string, b: Body, d: Disclaimer): Promise<{ edit: LeafEdit; toUtf8: boolean } | string> {
  if (WIDE_CHARSET.test(b.charset)) return `its charset ${b.charset}`;
  if (!['', '7bit', '8bit', 'binary', 'base64', 'quoted-printable'].includes(b.cte)) return `its transfer encoding ${b.cte}`;
  const piece = b.html ? asciiHtml(d.html) : d.text;
  const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  let content = b.bytes;
  let toUtf8 = false;
  let pieceBytes = piece;
  if (!isAscii(piece)) {
    if (b.charset !== 'utf-8' && b.charset !== 'utf8') {
      toUtf8 = true;
      // ASCII content reads the same in UTF-8; other content is converted, so that no character changes.
      if (/[\x80-\xff\x1b]/.test(content)) {
        if (!knowsCharset(b.charset || 'utf-8')) return `its charset ${b.charset}, unknown here`;
        content = utf8(decodeCharset(content, b.charset));
        await nextTurn();
      }
    }
    pieceBytes = utf8(piece);
  }
  const joined = inserted(b, content, pieceBytes, d.position);
  const bytes = Buffer.from(joined, 'latin1');
  let cte = b.cte;
  let body: string;
  if (cte === 'base64' || cte === 'quoted-printable') body = await encodedInTurns(cte, bytes);
  else if ((cte === '' || cte === '7bit') && /[\x80-\xff]/.test(joined)) { cte = 'quoted-printable'; body = await encodedInTurns('quoted-printable', bytes); }
  else body = joined;
  // A single-part message's body runs to the end of the message, which ends with a line break.
  if (b.leaf.end === text.length && !body.endsWith('\r\n')) body += '\r\n';
  const fields: Array<[string, string]> = [];
  if (toUtf8) fields.push(['Content-Type', withCharset(headerValue(b.leaf.headers, 'content-type') ?? 'text/plain', 'utf-8')]);
  if (cte !== b.cte) fields.push(['Content-Transfer-Encoding', cte]);
  if (!fields.length) return { edit: { leaf: { ...b.leaf, start: b.leaf.bodyStart }, with: body }, toUtf8 };
  const head = editedHeader(text, b.leaf, fields);
  if (head === undefined) return 'its header could not be rewritten';
  return { edit: { leaf: b.leaf, with: `${head}${body}` }, toUtf8 };
}

/**
 * The message (a latin1 string) with the disclaimer added to its text body: at the end, to its last plain and last
 * HTML part (a text after an inline picture is the end of what the reader sees); at the top, to the first of each.
 * Parts of attached messages are not the message's text and are never chosen. `topType` is the message's own
 * Content-Type.
 */
export async function addDisclaimer(text: string, topType: string, d: Disclaimer): Promise<DisclaimerResult> {
  if (SEALED_TYPES.has(parseMimeValue(topType).type)) return { added: false, why: 'the message is signed or encrypted' };
  const leaves = leafParts(text);
  if (leaves.some((l) => SEALED_TYPES.has(l.contentType))) return { added: false, why: 'the message is signed or encrypted' };
  const bodies: Body[] = [];
  // Each step over a large part is a turn of its own, so that other clients are served between them.
  for (const leaf of leaves.filter(isTextBody)) { bodies.push(bodyOf(text, leaf)); await nextTurn(); }
  if (!bodies.length) return { added: false, why: 'the message has no text part' };
  const texts: string[] = [];
  for (const b of bodies) { texts.push(await readable(b)); await nextTurn(); }
  if (texts.some((t) => INLINE_PGP.test(t))) return { added: false, why: 'the message is signed or encrypted (inline PGP)' };
  const wanted = [comparable(d.text), comparable(await htmlText(d.html))].filter((w) => w !== '');
  for (const t of texts) {
    const c = comparable(t);
    await nextTurn();
    if (wanted.some((w) => c.includes(w))) return { added: false, why: 'the message carries it already' };
  }
  // A text part with a file name is an attachment to mail programs (mailparser alone shows it as text): never edited.
  const unnamed = bodies.filter((b) => b.leaf.names.length === 0);
  if (!unnamed.length) return { added: false, why: 'the message has no text part (its named text parts are attachments)' };
  const pick = (html: boolean) => { const of = unnamed.filter((b) => b.html === html); return d.position === 'top' ? of[0] : of.at(-1); };
  const chosen = [pick(false), pick(true)].filter((b): b is Body => b !== undefined).sort((x, y) => x.leaf.start - y.leaf.start);
  const edits: LeafEdit[] = [];
  const toUtf8: string[] = [];
  for (const b of chosen) {
    const r = await partEdit(text, b, d);
    if (typeof r === 'string') return { added: false, why: `its ${b.leaf.contentType} part cannot take it: ${r}` };
    edits.push(r.edit);
    if (r.toUtf8) toUtf8.push(b.leaf.contentType);
  }
  return { added: true, text: replaceLeaves(text, edits), parts: chosen.map((b) => b.leaf.contentType), toUtf8, expected: leaves.map(leafShape) };
}
