// The page of one held message's preview (preview.ts), opened from the recipient's list with their ticket: its header
// fields, its attachments' names, types and sizes, and its text as plain text in a <pre>, every value escaped. Nothing
// of the sender's is markup here, so no link is clickable and nothing loads from anywhere (the CSP forbids it too).
import { escapeHtml as e } from './html.ts';
import { page, type Page } from './pages.ts';
import { adminOnlyText, dateText, whyHeldText, type QuarantinedSummary } from './summary.ts';
import type { MessagePreview } from './preview.ts';
import { pageHref } from './paging.ts';

export const PREVIEW_PATH = '/quarantine/preview';

/** The preview's address from the list (relative: it sits beside /quarantine/mine), with the page to go back to. */
export const previewHref = (ticket: string, id: string, listPage: number): string =>
  `preview?${new URLSearchParams({ t: ticket, id, page: String(listPage) })}`;

const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${e(value)}">`;

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function previewPage(m: QuarantinedSummary, p: MessagePreview, ticket: string, listPage: number): Page {
  const rows = [
    ...p.fields.map(([name, value]) => `<tr><th>${e(name)}</th><td>${e(value)}</td></tr>`),
    `<tr><th>Held since</th><td>${e(dateText(m.receivedAt))}</td></tr>`,
    `<tr><th>Why held</th><td>${e(whyHeldText(m))}</td></tr>`,
  ];
  const attachments = p.attachments.length
    ? ['<h2>Attachments</h2>', '<table>', '<tr><th>Name</th><th>Type</th><th>Size</th></tr>',
      ...p.attachments.map((a) => `<tr><td>${e(a.name)}${a.within ? `<br><small>${e(`inside ${a.within}`)}</small>` : ''}</td><td>${e(a.type)}</td><td>${e(sizeText(a.size))}</td></tr>`),
      '</table>', ...(p.moreAttachments ? [`<p>${e(`And ${p.moreAttachments} more attachment(s), not listed.`)}</p>`] : [])]
    : ['<p>No attachments.</p>'];
  // The buttons post to the list's own path, as its rows' do, and the answer is the list again.
  const buttons: Array<[string, string]> = m.recipientMayRelease ? [['release', 'Release'], ['delete', 'Delete']] : [['delete', 'Delete']];
  const actions = `<form method="post" action="mine">${hidden('t', ticket)}${hidden('id', m.id)}${hidden('page', String(listPage))}`
    + buttons.map(([value, label]) => `<button type="submit" name="do" value="${value}">${e(label)}</button>`).join(' ') + '</form>';
  return page('A held message', [
    '<p>A preview of the message: its text as plain text, without its formatting, pictures or links; its attachments are listed, not opened.</p>',
    '<table>', ...rows, '</table>',
    ...(m.recipientMayRelease ? [] : [`<p>${e(`${adminOnlyText(m.heldFor)} Its id is ${m.id}.`)}</p>`]),
    `<p>${actions}</p>`,
    ...attachments,
    '<h2>Text</h2>',
    p.text ? `<pre>${e(p.text)}</pre>` : '<p>The message has no text.</p>',
    ...(p.cut ? [`<p>${e('The text is cut here: the message is longer.')}</p>`] : []),
    ...(p.incomplete ? [`<p>${e(`Part of the message could not be read: ${p.incomplete}.`)}</p>`] : []),
    `<p><a href="${e(pageHref(ticket, listPage))}">Back to all mail held for you</a></p>`,
  ].join('\n'), true);
}
