// The parts of mailauth's signer that Mailmoat signs with, typed: its body hash, header canonicalization and field
// formatting. Its own signer lists each field only as often as it is present, so it cannot oversign a field.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface ParsedField { key: string | null; casedKey: string | undefined; line: Buffer }
interface BodyHasher { update(chunk: Buffer): void; digest(encoding: 'base64'): string }
export type SignatureTags = Record<string, string | number | undefined>;

interface Mailauth {
  tools: {
    parseHeaders(header: Buffer): { parsed: ParsedField[] };
    formatSignatureHeaderLine(type: 'DKIM', values: SignatureTags, folded: boolean): string;
  };
  body: { dkimBody(canonicalization: string, hash: string, maxLength: false): BodyHasher };
  header: {
    generateCanonicalizedHeader(type: 'DKIM', lines: { keys: string; headers: ParsedField[] }, options: Record<string, unknown>): {
      canonicalizedHeader: Buffer; dkimHeaderOpts: SignatureTags;
    };
  };
}

let mailauth: Mailauth | undefined;

/**
 * mailauth's modules, required on first use: they pull in joi and libmime, about 35 MB of a gateway's RSS, which a
 * gateway that signs for no domain never needs. DkimSigner calls this at start, so a signing gateway pays then.
 */
export function mailauthParts(): Mailauth {
  mailauth ??= {
    tools: require('mailauth/lib/tools.js'),
    body: require('mailauth/lib/dkim/body/index.js'),
    header: require('mailauth/lib/dkim/header/index.js'),
  };
  return mailauth;
}

export const parseHeaders = (section: Buffer): ParsedField[] => mailauthParts().tools.parseHeaders(section).parsed;
export const relaxedBodyHasher = (): BodyHasher => mailauthParts().body.dkimBody('relaxed', 'sha256', false);
export const canonicalizedHeader: Mailauth['header']['generateCanonicalizedHeader'] = (type, lines, options) =>
  mailauthParts().header.generateCanonicalizedHeader(type, lines, options);
export const formatSignatureField = (tags: SignatureTags): string => mailauthParts().tools.formatSignatureHeaderLine('DKIM', tags, true);
