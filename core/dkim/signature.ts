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

/** Reads `message`: its header section (each field with its CRLF) is returned, its body goes to `onBody`. */
async function headerSection(message: AsyncIterable<Buffer>, onBody: (chunk: Buffer) => void): Promise<Buffer> {
  let head = Buffer.alloc(0);
  let inBody = false;
  for await (const chunk of message) {
    if (inBody) { onBody(chunk); continue; }
    const searchFrom = Math.max(0, head.length - 3);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf(SECTION_END, searchFrom);
    if (end < 0) continue;
    inBody = true;
    if (head.length > end + 4) onBody(head.subarray(end + 4));
    head = head.subarray(0, end + 2);
  }
  return head;
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

/** The DKIM-Signature field for `message`, CRLF-terminated, to go in front of it. */
export async function dkimSignatureField(message: AsyncIterable<Buffer>, req: SignRequest): Promise<string> {
  const hasher = relaxedBodyHasher();
  const section = await headerSection(message, (chunk) => hasher.update(chunk));
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
  return `${formatSignatureField({ ...tags, b: signature.toString('base64') })}\r\n`;
}
