// The parts of mailauth's signer that Mailmoat signs with, typed: its body hash, header canonicalization and field
// formatting. Its own signer lists each field only as often as it is present, so it cannot oversign a field.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface ParsedField { key: string | null; casedKey: string | undefined; line: Buffer }
interface BodyHasher { update(chunk: Buffer): void; digest(encoding: 'base64'): string }
export type SignatureTags = Record<string, string | number | undefined>;

const tools = require('mailauth/lib/tools.js') as {
  parseHeaders(header: Buffer): { parsed: ParsedField[] };
  formatSignatureHeaderLine(type: 'DKIM', values: SignatureTags, folded: boolean): string;
};
const body = require('mailauth/lib/dkim/body/index.js') as { dkimBody(canonicalization: string, hash: string, maxLength: false): BodyHasher };
const header = require('mailauth/lib/dkim/header/index.js') as {
  generateCanonicalizedHeader(type: 'DKIM', lines: { keys: string; headers: ParsedField[] }, options: Record<string, unknown>): {
    canonicalizedHeader: Buffer; dkimHeaderOpts: SignatureTags;
  };
};

export const parseHeaders = (section: Buffer): ParsedField[] => tools.parseHeaders(section).parsed;
export const relaxedBodyHasher = (): BodyHasher => body.dkimBody('relaxed', 'sha256', false);
export const canonicalizedHeader = header.generateCanonicalizedHeader;
export const formatSignatureField = (tags: SignatureTags): string => tools.formatSignatureHeaderLine('DKIM', tags, true);
