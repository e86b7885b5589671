// The small HTML pages of the quarantine links: a confirmation with the message's date, sender and subject and a form
// that POSTs the ticket, the outcome, and refusals. Every value shown goes through escapeHtml.
import { escapeHtml as e } from './html.ts';
import { dateText, scoreText, type QuarantinedSummary } from './summary.ts';

export type Page = string;

/** A whole page; `wide` for the recipient's list of held mail (a table of six columns) and a message's preview. */
export function page(title: string, body: string, wide = false): Page {
  return [
    '<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    '<meta name="robots" content="noindex">', `<title>${e(title)}</title>`,
    `<style>body{font-family:sans-serif;max-width:${wide ? 70 : 40}em;margin:2em auto;padding:0 1em}th{text-align:left;padding-right:1em}`
      + 'td{vertical-align:top;padding-right:1em}form{display:inline}pre{white-space:pre-wrap;overflow-wrap:anywhere}</style>',
    `</head><body><h1>${e(title)}</h1>`, body, '</body></html>', '',
  ].join('\n');
}

/**
 * A link back to the recipient's page of held mail, for the pages a POST from it answers with. Relative, so it works
 * under whatever path link_base puts the gateway's pages.
 */
export const backLink = (recipientTicket: string): string => `<p><a href="mine?t=${e(recipientTicket)}">Back to all mail held for you</a></p>`;

export const errorPage = (title: string, text: string, back?: string): Page =>
  page(title, `<p>${e(text)}</p>${back === undefined ? '' : `\n${backLink(back)}`}`);

const VERB = { release: 'Release', delete: 'Delete' } as const;

export function confirmPage(action: 'release' | 'delete', m: QuarantinedSummary, address: string, ticket: string): Page {
  const what = action === 'release'
    ? `Deliver this message to ${address}, as it was received?`
    : `Delete this message for ${address}? It will not be delivered to you.`;
  return page(`${VERB[action]} a quarantined message`, [
    `<p>${e(what)}</p>`,
    '<table>',
    `<tr><th>Date</th><td>${e(dateText(m.receivedAt))}</td></tr>`,
    `<tr><th>From</th><td>${e(m.sender)}</td></tr>`,
    `<tr><th>Subject</th><td>${e(m.subject)}</td></tr>`,
    `<tr><th>Score</th><td>${e(scoreText(m.score))}</td></tr>`,
    ...(m.heldFor ? [`<tr><th>Reason</th><td>${e(m.heldFor)}</td></tr>`] : []),
    '</table>',
    // No action attribute: the form posts to this page's own path, and its ticket goes in the body, not the address.
    `<form method="post"><input type="hidden" name="t" value="${e(ticket)}"><p><button type="submit">${VERB[action]}</button></p></form>`,
  ].join('\n'));
}

export function resultPage(action: 'release' | 'delete', address: string, back?: string): Page {
  const more = back === undefined ? '' : `\n${backLink(back)}`;
  return action === 'release'
    ? page('Released', `<p>${e(`The message is on its way to ${address}.`)}</p>${more}`)
    : page('Deleted', `<p>${e(`The message was deleted for ${address}.`)}</p>${more}`);
}
