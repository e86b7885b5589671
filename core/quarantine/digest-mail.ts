// The digest mail for one recipient: a plain-text part and a simple HTML alternative listing each quarantined
// message, with a release and a delete link each when the gateway's web address is known.
import { randomBytes, type KeyObject } from 'node:crypto';
import { encodedWords, mailDate } from '../message/header-block.ts';
import { escapeHtml } from './html.ts';
import { formatDuration } from '../config/units.ts';
import { adminOnlyText, dateText, sentToText, shortDateText, whichText, whyHeldText, type QuarantinedSummary } from './summary.ts';
import { signTicket, type Ticket, type TicketAction } from './ticket.ts';
import { aLabelAddress, readableAddress } from '../text/idn-address.ts';

export interface DigestItem extends QuarantinedSummary {
  /**
   * The message's links, when `link_base` is set (messageLinks); no Release link for a message only an administrator
   * may release (a virus).
   */
  links?: { release?: string; delete: string };
  /** The addresses it was sent to, when one is a tagged form of the digest's address (mailbox.ts: sentToShown). */
  to?: string[];
}

export interface DigestMail {
  from: string;
  to: string;
  hostname: string;
  items: DigestItem[];
  /** How many older messages of the period the digest leaves out (it lists the newest DIGEST_ITEMS_MAX). */
  older: number;
  /** Start of the period listed (ms), or undefined for everything held. */
  since?: number;
  /** The link to the recipient's page of everything held for them and their sender lists, when `link_base` is set. */
  mineLink?: string;
  /** When the links stop working (ms), if there are links. */
  linksExpire?: number;
  /** queue.quarantine_lifetime: how long a held message is kept (null: until an administrator deletes it). */
  keptFor?: number | null;
  now: number;
}

/**
 * A held message's Release and Delete links under `base` (link_base without its trailing slash), each with a ticket
 * signed for its own action: a Delete link that is passed on cannot release the message, nor a Release link delete it.
 */
export function messageLinks(key: KeyObject, base: string, t: Omit<Ticket, 'action'>): { release: string; delete: string } {
  const link = (action: TicketAction) => `${base}/quarantine/${action}?t=${signTicket(key, { ...t, action })}`;
  return { release: link('release'), delete: link('delete') };
}

/** Messages one digest lists: a flood of spam for one address must not make a digest of megabytes. */
export const DIGEST_ITEMS_MAX = 500;


/** Base64 in lines of 76 characters (RFC 2045), so no line of the mail is too long whatever the text holds. */
const base64Lines = (text: string) => (Buffer.from(text, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

function intro(m: DigestMail): string {
  const period = m.since === undefined ? 'are held' : `arrived since ${dateText(m.since)}`;
  return `${m.items.length + m.older} message(s) addressed to you ${period} in the quarantine of ${m.hostname} and were not delivered; each says why it is held. Newest first.`;
}

function howTo(m: DigestMail): string {
  if (m.linksExpire !== undefined) return `Release delivers a message to you, as it was received; Delete removes it for you. The links work until ${dateText(m.linksExpire)}.`;
  return 'To have a message delivered after all, ask your administrator to release it for you, giving its id.';
}

/** Said before the list: the messages it leaves out are older than its last one, and where they can be seen. */
function olderNote(m: DigestMail): string {
  const where = m.mineLink
    ? `The link "${MINE_TEXT}" above lists them all, a page at a time.`
    : `Your administrator can list them all (moat quarantine digest --all --dry-run --to ${m.to}).`;
  return `${m.older} older message(s) are not listed here: a report lists the newest ${m.items.length}. ${where}`;
}

/** How long a message stays held, when the configuration says (a lifetime of null keeps it: nothing to say). */
function keptNote(m: DigestMail): string | undefined {
  if (!m.keptFor) return undefined;
  const days = m.keptFor / 86_400_000;
  const span = days >= 1 && Number.isInteger(days) ? `${days} day${days === 1 ? '' : 's'}` : formatDuration(m.keptFor);
  return `A message left in the quarantine is deleted ${span} after it was quarantined.`;
}

const MINE_TEXT = 'All mail held for you';
const mineNote = 'every message held for you, and your own allow and block lists of senders';

function textPart(m: DigestMail): string {
  const lines = [`Quarantine report for ${readableAddress(m.to)}`, '', intro(m), howTo(m), ''];
  if (m.mineLink) lines.push(`${MINE_TEXT} (${mineNote}):`, m.mineLink, '');
  if (m.older) lines.push(olderNote(m), '');
  for (const it of m.items) {
    lines.push(`Date:    ${dateText(it.receivedAt)}`, `From:    ${it.sender}`, ...(it.to ? [`To:      ${sentToText(it.to)}`] : []), `Subject: ${it.subject}`,
      `Reason:  ${whyHeldText(it)}`);
    if (!it.recipientMayRelease) lines.push(`Note:    ${adminOnlyText(it.heldFor)} Its id is ${it.id}.`);
    if (it.links) lines.push(...(it.links.release ? [`Release: ${it.links.release}`] : []), `Delete:  ${it.links.delete}`);
    else lines.push(`Id:      ${it.id}`);
    lines.push('');
  }
  const kept = keptNote(m);
  if (kept) lines.push(kept);
  return lines.join('\r\n') + '\r\n';
}

/*
 * The HTML part is read in mail programs, on phones as often as not: inline styles only (many drop a <style>), no
 * script, no table. Each message is a block of short lines that stacks at any width, every value breaking anywhere
 * (a subject of 600 `A`s), and its links are buttons a finger can hit (about 44px tall).
 */
const WRAP = 'overflow-wrap:anywhere;word-break:break-word';
const BODY_STYLE = `margin:0;padding:12px;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.4;color:#222222;${WRAP}`;
const ITEM_STYLE = 'border-top:1px solid #cccccc;padding:12px 0';
const QUIET_STYLE = 'color:#555555;font-size:14px';
const LINK_STYLE = 'display:inline-block;padding:11px 16px;margin:6px 8px 0 0;border:1px solid #1a56b0;border-radius:4px;color:#1a56b0;text-decoration:none';

function htmlItem(it: DigestItem): string {
  const e = escapeHtml;
  const which = whichText(it);
  const link = (href: string, label: string) => `<a href="${e(href)}" style="${LINK_STYLE}" aria-label="${e(`${label} ${which}`)}">${label}</a>`;
  const links = it.links ? [...(it.links.release ? [link(it.links.release, 'Release')] : []), link(it.links.delete, 'Delete')].join('') : '';
  const note = it.recipientMayRelease ? '' : `<div>${e(`${adminOnlyText(it.heldFor)} Its id is ${it.id}.`)}</div>`;
  const id = it.links || !it.recipientMayRelease ? '' : `<div style="${QUIET_STYLE}">${e(`Id: ${it.id}`)}</div>`;
  const to = it.to ? `<br><small>to ${e(sentToText(it.to))}</small>` : '';
  return [
    `<div style="${ITEM_STYLE}">`, `<div style="font-weight:bold">${e(it.subject)}</div>`, `<div>From: ${e(it.sender)}${to}</div>`,
    `<div>${e(`Why held: ${whyHeldText(it)}`)}</div>`, `<div style="${QUIET_STYLE}">${e(`${shortDateText(it.receivedAt)} UTC`)}</div>`,
    note, id, links ? `<div>${links}</div>` : '', '</div>',
  ].filter(Boolean).join('\r\n');
}

function htmlPart(m: DigestMail): string {
  const e = escapeHtml;
  const kept = keptNote(m);
  return [
    '<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Quarantine report</title></head>', `<body style="${BODY_STYLE}"><div style="max-width:40em;margin:0 auto">`,
    `<h1>Quarantine report for ${e(readableAddress(m.to))}</h1>`, `<p>${e(intro(m))}</p>`, `<p>${e(howTo(m))}</p>`,
    ...(m.mineLink ? [`<p><a href="${e(m.mineLink)}">${MINE_TEXT}</a>: ${e(mineNote)}.</p>`] : []),
    ...(m.older ? [`<p>${e(olderNote(m))}</p>`] : []),
    ...m.items.map(htmlItem),
    ...(kept ? [`<p style="border-top:1px solid #cccccc;padding-top:12px">${e(kept)}</p>`] : []),
    '</div></body></html>', '',
  ].join('\r\n');
}

/**
 * The whole message, CRLF line ends; header text of ours only (the senders' texts are in the base64 parts). The
 * addressee is named as a person reads it (its domain in Unicode, not A-labels beside a Unicode local part); the To
 * field is ASCII, its domain in A-labels, whenever the local part is: a next hop without SMTPUTF8 can take only that.
 */
export function buildDigestMail(m: DigestMail): Buffer {
  const boundary = `=_mailmoat_digest_${randomBytes(12).toString('hex')}`;
  const head = [
    `From: ${m.from}`,
    `To: ${aLabelAddress(m.to) ?? readableAddress(m.to)}`,
    `Subject: ${encodedWords(`Quarantine report for ${readableAddress(m.to)}: ${m.items.length + m.older} message(s)`)}`,
    `Date: ${mailDate(m.now)}`,
    `Message-ID: <${m.now.toString(36)}.${randomBytes(8).toString('hex')}.digest@${m.hostname}>`,
    'MIME-Version: 1.0',
    // RFC 3834: no vacation reply or other automatic answer to a report.
    'Auto-Submitted: auto-generated',
    'X-Auto-Response-Suppress: All',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
  ];
  const part = (type: string, text: string) => [`--${boundary}`, `Content-Type: ${type}; charset=utf-8`, 'Content-Transfer-Encoding: base64', '', base64Lines(text)];
  return Buffer.from([...head, '', ...part('text/plain', textPart(m)), ...part('text/html', htmlPart(m)), `--${boundary}--`, ''].join('\r\n'), 'utf8');
}
