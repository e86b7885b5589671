// The page a recipient's own link opens: every message held for their mailbox (its tagged addresses included), newest first, each with Release, Delete and the
// buttons that put its sender on their allow or block list, and the two lists themselves. Every form posts back to
// this page's path with the recipient ticket in its body; every value shown goes through escapeHtml.
import { escapeHtml as e } from './html.ts';
import { page, type Page } from './pages.ts';
import { adminOnlyText, dateText, scoreText, sentToText, type QuarantinedSummary } from './summary.ts';
import type { ListKind } from '../lists/user-lists.ts';
import { allowRuleText, type AllowRule } from './allow-rule.ts';

export interface RecipientView {
  /** The ticket's address. */
  address: string;
  /** Its mailbox (mailbox.ts), whose held mail the page lists; the address itself when not given. */
  mailbox?: string;
  /** The recipient ticket the page was opened with: every form carries it. */
  ticket: string;
  /** The newest messages held for the recipient, newest first. */
  messages: QuarantinedSummary[];
  /** How many older ones are held and not shown. */
  more: number;
  /** The sender of each message as an entry its buttons add (listEntry of senderAddress), by message id. */
  senderEntries: ReadonlyMap<string, string>;
  /** The addresses a message was sent to, by message id, where one is a tagged form of the mailbox (sentToShown). */
  sentTo?: ReadonlyMap<string, readonly string[]>;
  /** What the POST that led here did (flash.ts: noticeHtml), shown first; HTML, already escaped. */
  notice?: string;
  /** The recipient's sender lists; undefined when the gateway keeps none (no state store given). */
  lists?: Record<ListKind, string[]>;
  /** Whose lists they are: the address without its tag, when that differs from `address`. */
  listsOwner?: string;
  /** The gateway keeps lists, but its state store could not be read just now. */
  listsUnreadable?: boolean;
  /** When an allow entry counts in the running config; undefined: not known, and the page says what always holds. */
  allowRule?: AllowRule;
  /** When the ticket stops working (ms). */
  expires: number;
}

const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${e(value)}">`;

/** A form of one or more buttons, each sending `do` with its value. */
function form(ticket: string, fields: Record<string, string>, buttons: Array<[value: string, label: string]>): string {
  return `<form method="post">${hidden('t', ticket)}${Object.entries(fields).map(([k, v]) => hidden(k, v)).join('')}`
    + buttons.map(([value, label]) => `<button type="submit" name="do" value="${value}">${e(label)}</button>`).join(' ')
    + '</form>';
}

function messageRow(v: RecipientView, m: QuarantinedSummary): string {
  const sender = v.lists ? v.senderEntries.get(m.id) : undefined;
  // A message only an administrator may release (a virus) offers Delete alone, and says why.
  const buttons: Array<[string, string]> = m.recipientMayRelease ? [['release', 'Release'], ['delete', 'Delete']] : [['delete', 'Delete']];
  if (sender && m.recipientMayRelease) buttons.push(['allow', `Always allow ${sender}`], ['block', `Always block ${sender}`]);
  const to = v.sentTo?.get(m.id);
  const toLine = to?.length ? `<br><small>${e(`to ${sentToText(to)}`)}</small>` : '';
  const why = m.heldFor ? `<br><small>${e(m.heldFor)}</small>` : '';
  const note = m.recipientMayRelease ? '' : `<p>${e(`${adminOnlyText(m.heldFor)} Its id is ${m.id}.`)}</p>`;
  return `<tr><td>${e(dateText(m.receivedAt))}</td><td>${e(m.sender)}${toLine}</td><td>${e(m.subject)}</td><td>${e(scoreText(m.score))}${why}</td>`
    + `<td>${note}${form(v.ticket, { id: m.id }, buttons)}</td></tr>`;
}

const LIST_NAME: Record<ListKind, string> = { allow: 'Allow list', block: 'Block list' };

function listSection(v: RecipientView, kind: ListKind, entries: readonly string[]): string {
  const rows = entries.map((entry) => `<tr><td>${e(entry)}</td><td>${form(v.ticket, { list: kind, entry }, [['remove', 'Remove']])}</td></tr>`);
  return [`<h3>${LIST_NAME[kind]} (${entries.length})</h3>`, entries.length ? `<table>${rows.join('\n')}</table>` : '<p>Empty.</p>'].join('\n');
}

function listsPart(v: RecipientView): string {
  if (v.listsUnreadable) return '<h2>Your sender lists</h2>\n<p>Your sender lists cannot be read just now. Please try again later.</p>';
  if (!v.lists) return '<h2>Your sender lists</h2>\n<p>This gateway keeps no sender lists for its recipients.</p>';
  const whose = v.listsOwner && v.listsOwner !== v.address.toLowerCase()
    ? `These are the lists of ${v.listsOwner}: they apply to mail for every tagged form of that address, ${v.address} included. ` : '';
  return [
    '<h2>Your sender lists</h2>',
    `<p>${e(`${whose}Mail from a sender on your block list is kept from you. ${allowRuleText(v.allowRule)} `
      + 'An entry is an address (user@example.org), a domain (@example.org), or a domain with its subdomains (@.example.org).')}</p>`,
    listSection(v, 'allow', v.lists.allow),
    listSection(v, 'block', v.lists.block),
    `<form method="post">${hidden('t', v.ticket)}<label>Add <input type="text" name="entry" maxlength="320" size="30" required></label> to `
      + '<select name="list"><option value="allow">the allow list</option><option value="block">the block list</option></select> '
      + '<button type="submit" name="do" value="add">Add</button></form>',
  ].join('\n');
}

export function recipientPage(v: RecipientView): Page {
  const held = v.messages.length + v.more;
  const intro = held === 0
    ? 'No mail addressed to you is held in the quarantine now.'
    : `${held} message(s) addressed to you are held in the quarantine and were not delivered; each says why it is held. Newest first.`;
  const help = [
    'Release delivers a message to you, as it was received; Delete removes it for you.',
    ...(v.lists ? ['Always allow puts the sender on your allow list and releases the message to you; Always block puts the sender on your block list and deletes the message for you.',
      'The sender these buttons take is the address in the message\'s From, shown in its From column (its envelope sender when the From holds no address); each button names it.'] : []),
  ].join(' ');
  const parts = [...(v.notice ? [v.notice] : []), `<p>${e(intro)}</p>`];
  if (held) parts.push(`<p>${e(help)}</p>`);
  if (v.more) parts.push(`<p>${e(`${v.more} older message(s) are held and not listed here: the page shows the newest ${v.messages.length}. Release or delete some of these to see them, or ask your administrator.`)}</p>`);
  if (v.messages.length) {
    parts.push('<table>', '<tr><th>Date</th><th>From</th><th>Subject</th><th>Score and reason</th><th></th></tr>', ...v.messages.map((m) => messageRow(v, m)), '</table>');
  }
  parts.push(listsPart(v), `<p>${e(`This page's link works until ${dateText(v.expires)}; each quarantine report brings a new one.`)}</p>`);
  return page(`Mail held for ${v.mailbox ?? v.address}`, parts.join('\n'), true);
}
