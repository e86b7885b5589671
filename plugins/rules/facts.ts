// What the criteria look at, gathered once per message from the hook context. The parsed view (body text,
// attachments) is read only when an enabled rule needs it; every text is cut to the configured length, so that the
// copy to the regex thread stays small.
import type { Attachment, Finding, HookContext } from '../../core/index.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';
import { attachmentNames } from '../../core/message/mime-parse.ts';
import { headerValueTextWithin } from '../../core/text/header-value.ts';
import { matchFormMemo } from './text-fold.ts';

export interface Facts {
  mailFrom: string;
  recipients: string[];
  ip: string;
  authenticated: boolean;
  relayNetwork: boolean;
  /** The gateway's own domains (its `domains`, read at call time, so a reload's apply): the `outbound` criterion asks it. */
  isLocalDomain: (domain: string) => boolean;
  /** Header fields in message order, values unfolded, raw UTF-8 read as UTF-8 (else Windows-1252), RFC 2047-decoded. */
  headers: Array<{ name: string; value: string }>;
  subject: string;
  body: string;
  /** The body text searched is only the start of the message's text (the parsed view's cut, or `max_body_length`). */
  bodyTruncated: boolean;
  /**
   * Every attachment, those inside attached messages included, and the entries of ZIP, RAR and 7z archives among them
   * (core/message/archive-listing.ts); `names`
   * every file name its part declares (a part may give two, hoping a filter reads one and the recipient's program the
   * other), '' when it has none; `types` the declared type, then mailparser's guess when it differs (none for an
   * archive entry); `detected` what its bytes say (file-magic.ts), and of an archive UNREADABLE_ARCHIVE,
   * ENCRYPTED_ARCHIVE or UNLISTED_ARCHIVE; `size` its decoded size (an entry's, as its archive states it).
   */
  attachments: AttachmentFacts[];
  /** Containers (multiparts, attached messages) around the message's deepest part (see core/message/mime-parse.ts). */
  mimeDepth: number;
  /** Why the parse did not walk the whole MIME structure; undefined when it did (or the view was not read). */
  mimeIncomplete?: string;
  /** Why mail programs may read the MIME structure otherwise than the parse did (see core/message/mime-parse.ts). */
  mimeAmbiguous?: string;
  size: number;
  /** Live: rules add their own as they match, and later rules see them. */
  findings: readonly Finding[];
  /** scores.max_per_plugin: the `score` criterion totals the findings as the verdict does (none when absent). */
  scoreCaps?: Readonly<Record<string, number>>;
  now: Date;
  /**
   * The text criteria's match form (text-fold.ts) of a text of these facts, each folded once for the message however
   * many rules read it; absent (facts made by hand), each text is folded when asked.
   */
  textForm?: (text: string) => string;
}

export interface AttachmentFacts { names: string[]; types: string[]; detected: string[]; size: number }

/** The detected type of an archive whose directory (a RAR's headers) could not be read in full: it may hide any name. */
export const UNREADABLE_ARCHIVE = 'application/x-unreadable-archive';
/** The detected type of an archive with an encrypted entry, or encrypted headers: no scanner sees its content. */
export const ENCRYPTED_ARCHIVE = 'application/x-encrypted-archive';
/**
 * The detected type of an archive whose names were not read though it is not damaged (a 7z whose header is packed by
 * a coder the gateway does not decompress): its names are not seen by `name`, so a rule that must see them asks this.
 */
export const UNLISTED_ARCHIVE = 'application/x-unlisted-archive';

/** An attachment as the criteria see it, then the entries of the archive it is, each as an attachment of its own. */
export function attachmentFacts(a: Attachment): AttachmentFacts[] {
  const names = attachmentNames(a);
  const detected = a.detectedType ? [a.detectedType] : [];
  if (a.archive?.unreadable !== undefined) detected.push(UNREADABLE_ARCHIVE);
  if (a.archive?.encrypted) detected.push(ENCRYPTED_ARCHIVE);
  if (a.archive?.unlisted !== undefined) detected.push(UNLISTED_ARCHIVE);
  const out: AttachmentFacts[] = [{ names: names.length ? names : [''], types: [...new Set([a.declaredType, a.contentType.toLowerCase()])], detected, size: a.size }];
  for (const e of a.archive?.entries ?? []) {
    // The path as stored and the file's own name: `name: setup.exe` is meant for `tools/setup.exe` too.
    const entryNames = e.names.flatMap((n) => [n, baseName(n)]);
    out.push({ names: [...new Set(entryNames)], types: [], detected: e.detectedType ? [e.detectedType] : [], size: e.size });
  }
  return out;
}

/** The last part of an archive path, after `/` or a backslash (Windows tools write either). */
function baseName(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

export interface FactLimits { maxHeaderLength: number; maxBodyLength: number }

/**
 * A field's value (its bytes, one latin1 character per byte) as the criteria read it: raw 8-bit bytes as UTF-8 where
 * they are UTF-8 (an SMTPUTF8 client's header, RFC 6532), else as Windows-1252; then its encoded words decoded. Only
 * the first `maxBytes` bytes are read, and a UTF-8 character that cut splits is left out rather than the whole value
 * taken for Windows-1252.
 */
function fieldText(value: string, maxBytes: number): string {
  return decodeWords(headerValueTextWithin(value, maxBytes));
}

export async function gatherFacts(ctx: HookContext, needsParsed: boolean, limits: FactLimits, now = new Date()): Promise<Facts> {
  const msg = ctx.message!;
  const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
  const headers = msg.headers.fields.map((f) => ({ name: f.name, value: cut(fieldText(f.value, limits.maxHeaderLength * 4), limits.maxHeaderLength) }));
  const subjectField = headers.find((h) => h.name.toLowerCase() === 'subject');
  let body = '';
  let bodyTruncated = false;
  let attachments: Facts['attachments'] = [];
  let mimeDepth = 0;
  let mimeIncomplete: string | undefined;
  let mimeAmbiguous: string | undefined;
  if (needsParsed) {
    const parsed = await msg.parsed();
    body = cut(parsed.text, limits.maxBodyLength);
    bodyTruncated = parsed.textTruncated || parsed.text.length > limits.maxBodyLength;
    attachments = parsed.attachments.flatMap(attachmentFacts);
    mimeDepth = parsed.structure.depth;
    mimeIncomplete = parsed.structure.incomplete;
    mimeAmbiguous = parsed.structure.ambiguous;
  }
  return {
    mailFrom: ctx.mailFrom?.address ?? '',
    recipients: ctx.recipients.map((r) => r.address),
    ip: ctx.session.remote.ip,
    authenticated: !!ctx.session.user,
    relayNetwork: ctx.session.relayNetwork,
    isLocalDomain: (d) => ctx.services.isLocalDomain(d),
    headers, subject: subjectField?.value ?? '', body, bodyTruncated, attachments, mimeDepth, mimeIncomplete, mimeAmbiguous,
    size: msg.size, findings: ctx.findings, scoreCaps: ctx.services.scoreCaps?.(), now, textForm: matchFormMemo(),
  };
}
