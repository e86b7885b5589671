// The parts of mailauth's signer that Mailmoat signs with, typed: its body hash, header canonicalization and field
// formatting. Its own signer lists each field only as often as it is present, so it cannot oversign a field. Its ARC
// sealer is used whole, given the header and body hash read here (core/dkim/arc-seal.ts).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface ParsedField { key: string | null; casedKey: string | undefined; line: Buffer }
interface BodyHasher { update(chunk: Buffer): void; digest(encoding: 'base64'): string }
export type SignatureTags = Record<string, string | number | undefined>;

/** A header section as mailauth reads it: its fields, and the bytes they came from. */
export interface HeaderBlock { parsed: ParsedField[]; original: Buffer }

/** One ARC set of a message as mailauth's chain reader gives it (only passed back to its sealer here). */
export type ArcChainLink = Record<string, unknown>;

/** What mailauth's ARC sealer takes: the set's instance and cv, the AAR's text after `i=N; `, the key, the body hash. */
export interface SealRequest {
  i: number;
  cv: 'none' | 'pass' | 'fail';
  authResults: string;
  signingDomain: string;
  selector: string;
  /** PEM: mailauth's signer reads the key itself. */
  privateKey: string;
  algorithm: 'rsa-sha256';
  bodyHash: string;
  signTime: Date;
  /** The fields the ARC-Message-Signature covers when present, colon-separated. */
  headerList: string;
}

interface Mailauth {
  tools: {
    parseHeaders(header: Buffer): HeaderBlock;
    formatSignatureHeaderLine(type: 'DKIM', values: SignatureTags, folded: boolean): string;
    defaultARCFieldNames: string;
  };
  arc: {
    getARChain(headers: HeaderBlock): ArcChainLink[] | false;
    createSeal(input: false, data: { headers: HeaderBlock; arc: { chain: ArcChainLink[] | false }; seal: SealRequest }): Promise<{ headers: Array<string | undefined> }>;
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
    arc: require('mailauth/lib/arc/index.js'),
  };
  return mailauth;
}

export const parseHeaders = (section: Buffer): ParsedField[] => mailauthParts().tools.parseHeaders(section).parsed;
export const relaxedBodyHasher = (): BodyHasher => mailauthParts().body.dkimBody('relaxed', 'sha256', false);
export const canonicalizedHeader: Mailauth['header']['generateCanonicalizedHeader'] = (type, lines, options) =>
  mailauthParts().header.generateCanonicalizedHeader(type, lines, options);
export const formatSignatureField = (tags: SignatureTags): string => mailauthParts().tools.formatSignatureHeaderLine('DKIM', tags, true);
export const headerBlock = (section: Buffer): HeaderBlock => mailauthParts().tools.parseHeaders(section);
export const arcFieldNames = (): string => mailauthParts().tools.defaultARCFieldNames;
export const arcChain = (headers: HeaderBlock): ArcChainLink[] | false => mailauthParts().arc.getARChain(headers);
export const createSeal: Mailauth['arc']['createSeal'] = (input, data) => mailauthParts().arc.createSeal(input, data);
