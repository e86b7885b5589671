// Rewrites a raw MIME message so that listed links in its text and HTML parts read "link removed".
//
// Only the text/plain and text/html leaves that contain a listed link are touched: they are decoded, rewritten
// and re-encoded as UTF-8 with their original transfer encoding; every other byte of the message stays as it was.
// The leaves are found by the same MIME reader as virus stripping's (core/message/mime-leaves.ts).

import { decodeLeaf, headerValue, leafParts, replaceLeaves, type LeafEdit, type MimeLeaf } from '../../core/message/mime-leaves.ts';
import { mimeParamText, parseMimeValue } from '../../core/message/mime-params.ts';
import { encodeWhole } from '../../core/message/seven-bit-encoders.ts';

const URL_RE = /https?:\/\/[^\s"'<>()[\]{}]+/gi;

/** Replaces (or appends) a header in a header block, keeping the blank line that ends it. */
function setHeader(head: string, name: string, value: string): string {
  const re = new RegExp(`^${name}:[^\\r\\n]*(?:\\r?\\n[ \\t][^\\r\\n]*)*\\r?\\n`, 'im');
  const line = `${name}: ${value}\r\n`;
  // A part with no header fields at all is only the blank line before its body.
  if (/^\r?\n$/.test(head)) return line + head;
  if (re.test(head)) return head.replace(re, line);
  const end = /\r?\n\r?\n$/.exec(head);
  return end ? head.slice(0, end.index) + '\r\n' + line + '\r\n' : head + line;
}

function encode(buf: Buffer, cte: string): string {
  return cte === 'base64' || cte === 'quoted-printable' ? encodeWhole(cte, buf) : buf.toString('latin1');
}

function charsetText(buf: Buffer, charset: string | undefined): string {
  try { return new TextDecoder(charset ?? 'us-ascii').decode(buf); } catch { return buf.toString('utf8'); }
}

/** The leaf's new text (header section and body), or undefined when it is not text or links nothing listed. */
function rewriteLeaf(text: string, leaf: MimeLeaf, listed: (url: string) => boolean, replacement: string): string | undefined {
  if (leaf.contentType !== 'text/plain' && leaf.contentType !== 'text/html') return undefined;
  const type = headerValue(leaf.headers, 'content-type') ?? 'text/plain';
  const cteValue = headerValue(leaf.headers, 'content-transfer-encoding');
  const cte = (cteValue ?? '7bit').toLowerCase();
  const { params } = parseMimeValue(type);
  const decoded = charsetText(decodeLeaf(text, leaf), params.charset);
  let changed = false;
  const out = decoded.replace(URL_RE, (url) => (listed(url) ? ((changed = true), replacement) : url));
  if (!changed) return undefined;
  const newCte = cte === 'base64' || cte === 'quoted-printable' ? cte : /[^\x00-\x7f]/.test(out) ? '8bit' : cte;
  // The other parameters (format=flowed, a name="a;b") are kept, read the way every MIME reader here reads them.
  const rest = Object.entries(params).filter(([name]) => name !== 'charset').map(([name, value]) => mimeParamText(name, value));
  let head = setHeader(text.slice(leaf.start, leaf.bodyStart), 'Content-Type', [leaf.contentType, 'charset=utf-8', ...rest].join('; '));
  if (newCte !== cte || cteValue !== undefined) head = setHeader(head, 'Content-Transfer-Encoding', newCte);
  const body = encode(Buffer.from(out, 'utf8'), newCte);
  // A body that ended with a line break keeps one (base64's encoder always ends with one).
  const oldBody = text.slice(leaf.bodyStart, leaf.end);
  return head + (cte === 'base64' || body.endsWith('\n') || !oldBody.endsWith('\n') ? body : body + '\r\n');
}

/** The rewritten message, or undefined when no listed link was found in a text or HTML part. */
export function defangMessage(raw: Buffer, listed: (url: string) => boolean, replacement: string): Buffer | undefined {
  const text = raw.toString('latin1');
  const edits: LeafEdit[] = [];
  for (const leaf of leafParts(text)) {
    const leafText = rewriteLeaf(text, leaf, listed, replacement);
    if (leafText !== undefined) edits.push({ leaf, with: leafText });
  }
  return edits.length ? Buffer.from(replaceLeaves(text, edits), 'latin1') : undefined;
}
