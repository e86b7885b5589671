// Copies what a script may see of a message into plain, bounded data: never a live object of the gateway.
//
// Every list that is cut says so (`…Truncated`, `structureIncomplete`), so that a script which refuses what it finds
// can also refuse what it was not shown, rather than take a cut list for the whole message.
import type { HookContext } from '../../core/index.ts';
import { attachmentNames } from '../../core/message/mime-parse.ts';
import type { ParsedMessage } from '../../core/message/types.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';
import { cappedTotal } from '../../core/verdict/plugin-caps.ts';
import { headerValueTextWithin } from '../../core/text/header-value.ts';
import { SNAPSHOT_LIMITS as L, type MessageSnapshot, type SnapshotAttachment } from './api.ts';

/** Cuts a string at `max` UTF-16 units without leaving half of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, end);
}

/** A file name cut in its middle, so that what a filter matches most (the extension) is kept. */
function cutName(name: string): string {
  if (name.length <= L.fileName) return name;
  const half = Math.floor((L.fileName - 1) / 2);
  const tail = name.slice(name.length - half);
  return `${cut(name, half)}…${/^[\uDC00-\uDFFF]/.test(tail) ? tail.slice(1) : tail}`;
}

/**
 * A header value (its bytes, one latin1 character per byte) as text, as the rules plugin reads it: raw 8-bit bytes as
 * UTF-8 where they are UTF-8 (an SMTPUTF8 client's header, RFC 6532), else as Windows-1252, cut at `max` characters.
 * Taken byte for byte, `Jörg` in UTF-8 reached a script as `JÃ¶rg`. Only the first bytes that can make
 * `max` characters are read, and a character the cut splits is left out. `decode` (the Subject's encoded words) runs
 * before the cut.
 */
function headerText(bytes: string, max: number, decode: (text: string) => string = (t) => t): string {
  return cut(decode(headerValueTextWithin(bytes, max * 4)), max);
}

function attachmentsOf(parsed: ParsedMessage): { list: SnapshotAttachment[]; truncated: boolean } {
  let truncated = parsed.attachments.length > L.attachments;
  const list = parsed.attachments.slice(0, L.attachments).map((a) => {
    const names = attachmentNames(a);
    if (names.length > L.attachmentNames) truncated = true;
    return {
      filename: a.filename === undefined ? null : cutName(a.filename),
      names: names.slice(0, L.attachmentNames).map(cutName),
      contentType: cut(a.contentType, L.contentType),
      size: a.size,
      within: (a.within ?? []).map(cutName),
    };
  });
  return { list, truncated };
}

export async function snapshotOf(ctx: HookContext, maxText: number): Promise<MessageSnapshot> {
  const msg = ctx.message!;
  const parsed = await msg.parsed();
  const s = ctx.session;
  const findings = ctx.findings;
  const attachments = attachmentsOf(parsed);
  return {
    id: msg.id,
    envelope: { from: ctx.mailFrom?.address ?? '', to: ctx.recipients.map((r) => r.address) },
    client: { ip: s.remote.ip, hostname: s.remote.hostname ?? null, helo: s.helo ?? null, user: s.user ?? null, tls: s.tls, trusted: s.trusted },
    headers: msg.headers.fields.slice(0, L.headers).map((f) => ({ name: f.name, value: headerText(f.value, L.headerValue) })),
    headersTruncated: msg.headers.fields.length > L.headers,
    // From the field's bytes, as the rules plugin reads a Subject: the parser's reading took a raw Windows-1252
    // Subject for UTF-8 and gave U+FFFD for each accented letter.
    subject: headerText(msg.headers.first('Subject') ?? '', L.headerValue, decodeWords),
    text: cut(parsed.text, maxText),
    textTruncated: parsed.textTruncated || parsed.text.length > maxText,
    urls: parsed.urls.slice(0, L.urls).map((u) => cut(u, L.url)),
    urlsTruncated: parsed.urls.length > L.urls,
    attachments: attachments.list,
    attachmentsTruncated: attachments.truncated,
    structureIncomplete: parsed.structure.incomplete ?? null,
    mimeDepth: parsed.structure.depth,
    size: msg.size,
    findings: findings.slice(0, L.findings).map((f) => ({ symbol: f.symbol, score: f.score, detail: f.detail ?? null, plugin: f.plugin })),
    findingsTruncated: findings.length > L.findings,
    // As the verdict counts them, scores.max_per_plugin applied: a script refusing at 10 must not see 12 where the header says 6.
    score: cappedTotal(findings, ctx.services.scoreCaps?.() ?? {}).score,
  };
}
