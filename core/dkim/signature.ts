// Makes the DKIM-Signature field (RFC 6376, relaxed/relaxed, SHA-256) for a message given as its bytes.
import { createHash, sign } from 'node:crypto';
import type { DomainKey } from './keyring.ts';
import { canonicalizedHeader, formatSignatureField, parseHeaders, relaxedBodyHasher, type ParsedField } from './mailauth-parts.ts';

export interface SignRequest {
  key: DomainKey;
  /** Field names to sign when present, in the order h= lists them. */
  fields: readonly string[];
  /** Field names listed once more than present (RFC 6376 §8.15): a field added later breaks the signature. */
  oversign: readonly string[];
  /** t=: the same time on every attempt, so a retry sends the very same field. */
  signTime: Date;
}

const SECTION_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/**
 * Reads `message`: its header section (each field with its CRLF) is returned, and whether an empty line ended it;
 * its body goes to `onBody`. The header's
 * chunks are kept in a list and joined once: joining at every chunk copies the header again each time, which for a
 * message without a blank line (all header, up to the message size limit) is quadratic.
 */
export async function headerSection(message: AsyncIterable<Buffer>, onBody: (chunk: Buffer) => void): Promise<{ section: Buffer; ended: boolean }> {
  const chunks: Buffer[] = [];
  let length = 0;
  // The last 3 bytes read, so that a CRLFCRLF split across chunks is found without joining them.
  let tail = Buffer.alloc(0);
  let section: Buffer | undefined;
  for await (const chunk of message) {
    if (section) { onBody(chunk); continue; }
    const window = Buffer.concat([tail, chunk]);
    const at = window.indexOf(SECTION_END);
    if (at < 0) {
      chunks.push(chunk);
      length += chunk.length;
      tail = window.subarray(Math.max(0, window.length - 3));
      continue;
    }
    // The section ends `at - tail.length` bytes into this chunk (before it, when the CRLFCRLF began in earlier ones).
    const endInChunk = at - tail.length + 2;
    const head = Buffer.concat(chunks, length);
    section = endInChunk >= 0 ? Buffer.concat([head, chunk.subarray(0, endInChunk)]) : head.subarray(0, head.length + endInChunk);
    const bodyStart = at - tail.length + 4;
    if (chunk.length > bodyStart) onBody(chunk.subarray(bodyStart));
  }
  return section ? { section, ended: true } : { section: Buffer.concat(chunks, length), ended: false };
}

/**
 * The fields h= covers, and their names as h= lists them: each name's instances from the bottom up, as a verifier
 * takes them, then once more for an oversigned name.
 */
function signedFields(parsed: ParsedField[], fields: readonly string[], oversign: readonly string[]): { keys: string; headers: ParsedField[] } {
  const extra = new Set(oversign.map((n) => n.toLowerCase()));
  const names = [...new Set([...fields, ...oversign].map((n) => n.toLowerCase()))];
  const keys: string[] = [];
  const headers: ParsedField[] = [];
  for (const name of names) {
    const present = parsed.filter((f) => f.key === name).reverse();
    for (const f of present) { headers.push(f); keys.push(f.casedKey ?? name); }
    if (extra.has(name)) keys.push(present[0]?.casedKey ?? name);
  }
  return { keys: keys.join(':'), headers };
}

export interface Signature {
  /** The DKIM-Signature field, CRLF-terminated, to go in front of the message. */
  field: string;
  /** What to send after the message: the empty line a message of header fields only lacks, else nothing. */
  after: string;
}

/**
 * The signature for `message`. A message that is all header (RFC 5322 allows a message without a body) is signed
 * with the empty body's hash, and gets the empty line that ends a header section: without it verifiers (mailauth)
 * find no header section and call the message unsigned. The body stays empty, so the hash holds (README.md here).
 */
export async function dkimSignature(message: AsyncIterable<Buffer>, req: SignRequest): Promise<Signature> {
  const hasher = relaxedBodyHasher();
  const { section, ended } = await headerSection(message, (chunk) => hasher.update(chunk));
  const { key } = req;
  const algorithm = `${key.type}-sha256`;
  const { canonicalizedHeader: signedData, dkimHeaderOpts: tags } = canonicalizedHeader('DKIM', signedFields(parseHeaders(section), req.fields, req.oversign), {
    signingDomain: key.domain, selector: key.selector, algorithm, canonicalization: 'relaxed/relaxed',
    bodyHash: hasher.digest('base64'), signTime: req.signTime,
  });
  // RFC 8463 §3: Ed25519 signs the SHA-256 of the canonical data, not the data itself.
  const signature = key.type === 'rsa'
    ? sign('sha256', signedData, key.key)
    : sign(null, createHash('sha256').update(signedData).digest(), key.key);
  const field = `${formatSignatureField({ ...tags, b: signature.toString('base64') })}\r\n`;
  return { field, after: headerEnd(section, ended) };
}

/** What ends a header section that `headerSection` found unended (a message all header): '' when it ended. */
export function headerEnd(section: Buffer, ended: boolean): string {
  if (ended) return '';
  return section.length === 0 || section.subarray(-2).equals(CRLF) ? '\r\n' : '\r\n\r\n';
}
