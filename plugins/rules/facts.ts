// What the criteria look at, gathered once per message from the hook context. The parsed view (body text,
// attachments) is read only when an enabled rule needs it; every text is cut to the configured length, so that the
// copy to the regex thread stays small.
import type { Finding, HookContext } from '../../core/index.ts';
import { decodeWords } from '../../core/text/encoded-words.ts';
import { attachmentNames } from '../../core/message/mime-parse.ts';

export interface Facts {
  mailFrom: string;
  recipients: string[];
  ip: string;
  authenticated: boolean;
  relayNetwork: boolean;
  /** Header fields in message order, values unfolded and RFC 2047-decoded. */
  headers: Array<{ name: string; value: string }>;
  subject: string;
  body: string;
  /** The body text searched is only the start of the message's text (the parsed view's cut, or `max_body_length`). */
  bodyTruncated: boolean;
  /**
   * Every attachment, those inside attached messages included; `names` every file name its part declares (a part
   * may give two, hoping a filter reads one and the recipient's program the other), '' when it has none; `types` the
   * declared type, then mailparser's guess when it differs.
   */
  attachments: Array<{ names: string[]; types: string[] }>;
  /** Containers (multiparts, attached messages) around the message's deepest part (see core/message/mime-parse.ts). */
  mimeDepth: number;
  /** Why the parse did not walk the whole MIME structure; undefined when it did (or the view was not read). */
  mimeIncomplete?: string;
  size: number;
  /** Live: rules add their own as they match, and later rules see them. */
  findings: readonly Finding[];
  now: Date;
}

export interface FactLimits { maxHeaderLength: number; maxBodyLength: number }

export async function gatherFacts(ctx: HookContext, needsParsed: boolean, limits: FactLimits, now = new Date()): Promise<Facts> {
  const msg = ctx.message!;
  const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
  const headers = msg.headers.fields.map((f) => ({ name: f.name, value: cut(decodeWords(cut(f.value, limits.maxHeaderLength * 4)), limits.maxHeaderLength) }));
  const subjectField = headers.find((h) => h.name.toLowerCase() === 'subject');
  let body = '';
  let bodyTruncated = false;
  let attachments: Facts['attachments'] = [];
  let mimeDepth = 0;
  let mimeIncomplete: string | undefined;
  if (needsParsed) {
    const parsed = await msg.parsed();
    body = cut(parsed.text, limits.maxBodyLength);
    bodyTruncated = parsed.textTruncated || parsed.text.length > limits.maxBodyLength;
    attachments = parsed.attachments.map((a) => {
      const names = attachmentNames(a);
      return { names: names.length ? names : [''], types: [...new Set([a.declaredType, a.contentType.toLowerCase()])] };
    });
    mimeDepth = parsed.structure.depth;
    mimeIncomplete = parsed.structure.incomplete;
  }
  return {
    mailFrom: ctx.mailFrom?.address ?? '',
    recipients: ctx.recipients.map((r) => r.address),
    ip: ctx.session.remote.ip,
    authenticated: !!ctx.session.user,
    relayNetwork: ctx.session.relayNetwork,
    headers, subject: subjectField?.value ?? '', body, bodyTruncated, attachments, mimeDepth, mimeIncomplete,
    size: msg.size, findings: ctx.findings, now,
  };
}
