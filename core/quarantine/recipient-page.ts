// The page a recipient's own link opens: every message held for their mailbox (its tagged addresses included), newest
// first, a page at a time, each with Release, Delete, the buttons that put its sender on their allow or block list, a
// box to select it for a Release or Delete of several at once, and a link to its preview; then the two lists. Every
// form posts back to this page's path with the recipient ticket (and the page shown) in its body; every value shown
// goes through escapeHtml.
import { escapeHtml as e } from './html.ts';
import { page, type Page } from './pages.ts';
import { adminOnlyText, dateText, sentToText, shortDateText, whichText, whyHeldText, type QuarantinedSummary } from './summary.ts';
import type { ListKind } from '../lists/user-lists.ts';
import { allowRuleText, type AllowRule } from './allow-rule.ts';
import { pageCount, pageLinks, PAGE_MAX } from './paging.ts';
import { previewHref } from './preview-page.ts';

export interface RecipientView {
  /** The ticket's address. */
  address: string;
  /** Its mailbox (mailbox.ts), whose held mail the page lists; the address itself when not given. */
  mailbox?: string;
  /** The recipient ticket the page was opened with: every form carries it. */
  ticket: string;
  /** The messages of the page shown, newest first. */
  messages: QuarantinedSummary[];
  /** How many are held for the mailbox in all. */
  total: number;
  /** The page shown, from 1 (paging.ts). */
  page: number;
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

/**
 * A button sending `do` with `value`. `name`, when given, is what a screen reader says of it: it starts with the
 * visible label and adds which message or entry it acts on, since every row has a Release and a Delete.
 */
type Button = [value: string, label: string, name?: string];

/** A form of one or more buttons, each sending `do` with its value; the page shown goes along, for the answer to show it again. */
function form(v: Pick<RecipientView, 'ticket' | 'page'>, fields: Record<string, string>, buttons: Button[], attrs = ''): string {
  return `<form method="post"${attrs}>${hidden('t', v.ticket)}${Object.entries(fields).map(([k, val]) => hidden(k, val)).join('')}${hidden('page', String(v.page))}`
    + buttons.map(([value, label, name]) => `<button type="submit" name="do" value="${value}"${name ? ` aria-label="${e(name)}"` : ''}>${e(label)}</button>`).join(' ')
    + '</form>';
}

function messageRow(v: RecipientView, m: QuarantinedSummary): string {
  const sender = v.lists ? v.senderEntries.get(m.id) : undefined;
  // A message only an administrator may release (a virus) offers Delete alone, and says why.
  const which = whichText(m);
  const buttons: Button[] = m.recipientMayRelease ? [['release', 'Release', `Release ${which}`]] : [];
  buttons.push(['delete', 'Delete', `Delete ${which}`]);
  if (sender && m.recipientMayRelease) {
    buttons.push(['allow', `Always allow ${sender}`, `Always allow ${sender}, and release “${m.subject}”`],
      ['block', `Always block ${sender}`, `Always block ${sender}, and delete “${m.subject}”`]);
  }
  const to = v.sentTo?.get(m.id);
  const toLine = to?.length ? `<br><small>${e(`to ${sentToText(to)}`)}</small>` : '';
  const note = m.recipientMayRelease ? '' : `<p>${e(`${adminOnlyText(m.heldFor)} Its id is ${m.id}.`)}</p>`;
  // The box belongs to the bulk form above the table (form="bulk"): each row keeps its own forms for its buttons.
  const select = `<input type="checkbox" name="ids" value="${e(m.id)}" form="bulk" aria-label="${e(`Select: ${m.subject}`)}">`;
  const subject = `<a href="${e(previewHref(v.ticket, m.id, v.page))}">${e(m.subject)}</a>`;
  return `<tr><td>${select}</td><td>${e(shortDateText(m.receivedAt))}</td><td>${e(m.sender)}${toLine}</td><td>${subject}</td><td>${e(whyHeldText(m))}</td>`
    + `<td>${note}${form(v, { id: m.id }, buttons)}</td></tr>`;
}

const LIST_NAME: Record<ListKind, string> = { allow: 'Allow list', block: 'Block list' };

function listSection(v: RecipientView, kind: ListKind, entries: readonly string[]): string {
  const rows = entries.map((entry) => `<tr><td>${e(entry)}</td><td>${form(v, { list: kind, entry }, [['remove', 'Remove', `Remove ${entry} from your ${LIST_NAME[kind].toLowerCase()}`]])}</td></tr>`);
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
    `<form method="post">${hidden('t', v.ticket)}${hidden('page', String(v.page))}<label>Add <input type="text" name="entry" maxlength="320" size="30" required></label> to `
      + '<select name="list" aria-label="The list to add the entry to"><option value="allow">the allow list</option><option value="block">the block list</option></select> '
      + '<button type="submit" name="do" value="add">Add</button></form>',
  ].join('\n');
}

/** Which messages of how many the page shows, and the links to the other pages. */
function pagePart(v: RecipientView): string {
  const pages = pageCount(v.total);
  if (pages <= 1) return '';
  const first = (v.page - 1) * PAGE_MAX + 1;
  // A page whose messages were all released or deleted since the index was read lists none: the links still lead on.
  const where = v.messages.length
    ? `Page ${v.page} of ${pages}: messages ${first} to ${first + v.messages.length - 1} of ${v.total}, ${PAGE_MAX} a page.`
    : `Page ${v.page} of ${pages}: its messages are no longer held.`;
  return `<p>${e(where)}</p>\n${pageLinks(v.ticket, v.page, pages)}`;
}

export function recipientPage(v: RecipientView): Page {
  const held = v.total;
  const intro = held === 0
    ? 'No mail addressed to you is held in the quarantine now.'
    : `${held} message(s) addressed to you are held in the quarantine and were not delivered; each says why it is held. Newest first.`;
  const help = [
    'Release delivers a message to you, as it was received; Delete removes it for you. Its subject opens a preview of its text.',
    'To release or delete several at once, tick their boxes and use Release selected or Delete selected.',
    ...(v.lists ? ['Always allow puts the sender on your allow list and releases the message to you; Always block puts the sender on your block list and deletes the message for you.',
      'The sender these buttons take is the address in the message\'s From, shown in its From column (its envelope sender when the From holds no address); each button names it.'] : []),
  ].join(' ');
  const parts = [...(v.notice ? [v.notice] : []), `<p>${e(intro)}</p>`];
  if (held) parts.push(`<p>${e(help)}</p>`);
  const paging = pagePart(v);
  if (paging) parts.push(paging);
  if (v.messages.length) {
    parts.push(
      form(v, {}, [['release-selected', 'Release selected'], ['delete-selected', 'Delete selected']], ' id="bulk"'),
      '<table class="held">', '<tr><th><span class="vh">Select</span></th><th>Date (UTC)</th><th>From</th><th>Subject</th><th>Why held</th><th>Actions</th></tr>',
      ...v.messages.map((m) => messageRow(v, m)), '</table>',
    );
  }
  if (paging) parts.push(paging);
  // Asks first (bulk-actions.ts): the answer is a page that says how many and posts again to confirm.
  if (held) parts.push(`<p>${form(v, {}, [['delete-all', `Delete all ${held} held for me…`]])}</p>`);
  parts.push(listsPart(v), `<p>${e(`This page's link works until ${dateText(v.expires)}; each quarantine report brings a new one.`)}</p>`);
  return page(`Mail held for ${v.mailbox ?? v.address}`, parts.join('\n'), true);
}
