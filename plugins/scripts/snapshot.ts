// Copies what a script may see of a message into plain, bounded data: never a live object of the gateway.
import type { HookContext } from '../../core/index.ts';
import { SNAPSHOT_LIMITS as L, type MessageSnapshot } from './api.ts';

/** Cuts a string at `max` UTF-16 units without leaving half of a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text[max - 1] ?? '') ? max - 1 : max;
  return text.slice(0, end);
}

export async function snapshotOf(ctx: HookContext, maxText: number): Promise<MessageSnapshot> {
  const msg = ctx.message!;
  const parsed = await msg.parsed();
  const s = ctx.session;
  const findings = ctx.findings;
  return {
    id: msg.id,
    envelope: { from: ctx.mailFrom?.address ?? '', to: ctx.recipients.map((r) => r.address) },
    client: { ip: s.remote.ip, hostname: s.remote.hostname ?? null, helo: s.helo ?? null, user: s.user ?? null, tls: s.tls, trusted: s.trusted },
    headers: msg.headers.fields.slice(0, L.headers).map((f) => ({ name: f.name, value: cut(f.value, L.headerValue) })),
    subject: cut(parsed.subject ?? msg.headers.first('Subject') ?? '', L.headerValue),
    text: cut(parsed.text, maxText),
    textTruncated: parsed.textTruncated || parsed.text.length > maxText,
    urls: parsed.urls.slice(0, L.urls).map((u) => cut(u, L.url)),
    attachments: parsed.attachments.slice(0, L.attachments).map((a) => ({ filename: a.filename ?? null, contentType: a.contentType, size: a.size })),
    size: msg.size,
    findings: findings.slice(0, L.findings).map((f) => ({ symbol: f.symbol, score: f.score, detail: f.detail ?? null, plugin: f.plugin })),
    score: findings.reduce((sum, f) => sum + f.score, 0),
  };
}
