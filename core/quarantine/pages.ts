// The small HTML pages of the quarantine links: a confirmation with the message's date, sender and subject and a form
// that POSTs the ticket, the outcome, and refusals. Every value shown goes through escapeHtml.
import { escapeHtml as e } from './html.ts';
import { dateText, whyHeldText, type QuarantinedSummary } from './summary.ts';

export type Page = string;

/**
 * The pages' one style sheet. Every value shown may be one word of hundreds of characters (a subject of `A`s, an
 * address): any text breaks anywhere rather than widen the page and push the buttons out of sight. The list of held
 * mail (`table.held`) fills the width, its date kept on one line and its buttons' column wide enough for them; on a
 * narrow screen each of its rows becomes a block of labelled lines, and on any small or touch screen the controls
 * are at least 44px tall (WCAG 2.5.5), so a finger hits the one it means.
 */
const STYLE = [
  'body{font-family:sans-serif;margin:2em auto;padding:0 1em;overflow-wrap:anywhere;word-break:break-word}',
  'th{text-align:left;padding:.2em 1em .2em 0;overflow-wrap:normal;word-break:normal}td{vertical-align:top;padding:.2em 1em .2em 0}form{display:inline}',
  'pre{white-space:pre-wrap;overflow-wrap:anywhere}button{margin:0 .25em .25em 0}',
  '.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
  'table.held{width:100%;border-collapse:collapse}.held tr+tr td{border-top:1px solid #ddd;padding-top:.4em}',
  '.held td:nth-child(2){white-space:nowrap}.held td:last-child{width:14em}',
  '@media (max-width:45em){table.held,.held tbody,.held tr,.held td{display:block;width:auto}.held tr:first-child{display:none}',
  '.held tr{border-top:1px solid #ccc;padding:.5em 0}.held tr+tr td,.held td{border:0;padding:.1em 0}',
  '.held td:nth-child(1)::before{content:"Select "}.held td:nth-child(2)::before{content:"Date (UTC): "}',
  '.held td:nth-child(3)::before{content:"From: "}.held td:nth-child(4)::before{content:"Subject: "}',
  '.held td:nth-child(5)::before{content:"Why held: "}}',
  '@media (max-width:45em),(pointer:coarse){button,select,input[type=text]{min-height:44px}input[type=checkbox]{width:28px;height:28px;vertical-align:middle}}',
].join('');

/** A whole page; `wide` for the recipient's list of held mail (a table of six columns) and a message's preview. */
export function page(title: string, body: string, wide = false): Page {
  return [
    '<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex">', `<title>${e(title)}</title>`,
    `<style>${STYLE}body{max-width:${wide ? 70 : 40}em}</style>`,
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
    `<tr><th>Why held</th><td>${e(whyHeldText(m))}</td></tr>`,
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
