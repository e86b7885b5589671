// What a recipient's POST did, carried to the page its 303 See Other names (Post/Redirect/Get): a browser that
// refreshes the page then asks again with GET, which changes nothing, rather than posting again (and hearing 410).
// The outcome travels in the query beside the ticket already there: a few fixed words and the list entry concerned,
// nothing secret. Read back strictly: anything else in the query shows no notice at all, so a crafted link can only
// make the page say one of its own sentences.
import type { HttpResponse } from '../http/types.ts';
import { listEntry, type AddResult, type ListKind } from '../lists/user-lists.ts';
import { escapeHtml as e } from './html.ts';
import { page } from './pages.ts';
import { respond } from './page-response.ts';
import type { AllowRule } from './allow-rule.ts';

/** A change to one list: whether the entry was added (or was there), and whether it left the other list. */
export interface ListChange { entry: string; list: ListKind; added: Exclude<AddResult, 'list full'>; movedFrom?: ListKind }

export type Outcome =
  | { did: 'released' | 'deleted' }
  /** Always allow / Always block: the list change, and whether the message itself was still held to release or delete. */
  | { did: 'allowed' | 'blocked'; change: ListChange; messageGone: boolean }
  | { did: 'added'; change: ListChange }
  | { did: 'removed'; entry: string; list: ListKind; removed: boolean }
  /** Release or Delete of several messages at once (bulk-actions.ts): how many of them went which way. */
  | { did: 'released-many' | 'deleted-many'; counts: BulkCounts };

/**
 * What a bulk action did with the messages it was given: `done`; `gone`, no longer held for the recipient (released,
 * deleted or expired meanwhile); `adminOnly`, only an administrator may release them; `failed`, not done just now.
 */
export interface BulkCounts { done: number; gone: number; adminOnly: number; failed: number }

const DIDS = ['released', 'deleted', 'allowed', 'blocked', 'added', 'removed', 'released-many', 'deleted-many'] as const;
const COUNT_FIELDS = ['done', 'gone', 'adminOnly', 'failed'] as const;
/** A count as the query carries it: digits only, no more than a quarantine holds. */
const COUNT = /^(?:0|[1-9]\d{0,6})$/;
const isKind = (v: string | null): v is ListKind => v === 'allow' || v === 'block';
const otherList = (kind: ListKind): ListKind => (kind === 'allow' ? 'block' : 'allow');

/** The query fields that say `o`. */
export function outcomeFields(o: Outcome): Record<string, string> {
  switch (o.did) {
    case 'released': case 'deleted': return { did: o.did };
    case 'released-many': case 'deleted-many':
      return { did: o.did, ...Object.fromEntries(COUNT_FIELDS.filter((f) => o.counts[f]).map((f) => [f, String(o.counts[f])])) };
    case 'removed': return { did: o.did, list: o.list, entry: o.entry, ...(o.removed ? {} : { was: 'absent' }) };
    default: return {
      did: o.did, list: o.change.list, entry: o.change.entry,
      ...(o.change.added === 'already listed' ? { was: 'listed' } : {}),
      ...(o.change.movedFrom ? { moved: '1' } : {}),
      ...('messageGone' in o && o.messageGone ? { message: 'gone' } : {}),
    };
  }
}

/** The outcome a page's query says, or undefined when it says none or anything out of the ordinary. */
export function outcomeOf(query: URLSearchParams): Outcome | undefined {
  const did = query.get('did');
  if (!did || !(DIDS as readonly string[]).includes(did)) return undefined;
  if (did === 'released' || did === 'deleted') return { did };
  if (did === 'released-many' || did === 'deleted-many') {
    const counts: BulkCounts = { done: 0, gone: 0, adminOnly: 0, failed: 0 };
    for (const f of COUNT_FIELDS) {
      const v = query.get(f);
      if (v === null) continue;
      if (!COUNT.test(v)) return undefined;
      counts[f] = Number(v);
    }
    return { did, counts };
  }
  const list = query.get('list');
  const text = query.get('entry');
  const entry = text === null ? null : listEntry(text);
  // Only an entry in the form a list keeps it: what the POST put there, and nothing a crafted link adds.
  if (!isKind(list) || !entry || entry !== text) return undefined;
  if (did === 'removed') return { did, entry, list, removed: query.get('was') !== 'absent' };
  if ((did === 'allowed' && list !== 'allow') || (did === 'blocked' && list !== 'block')) return undefined;
  const change: ListChange = { entry, list, added: query.get('was') === 'listed' ? 'already listed' : 'added', ...(query.get('moved') === '1' ? { movedFrom: otherList(list) } : {}) };
  if (did === 'added') return { did, change };
  return { did: did as 'allowed' | 'blocked', change, messageGone: query.get('message') === 'gone' };
}

/** A list's name in the recipient's words. */
export const LIST_NAME: Record<ListKind, string> = { allow: 'allow list', block: 'block list' };

/** What a list change did, in the recipient's words. */
export const changeText = (c: ListChange): string =>
  (c.added === 'added' ? `${c.entry} is on your ${LIST_NAME[c.list]} now.` : `${c.entry} was on your ${LIST_NAME[c.list]} already.`)
  + (c.movedFrom ? ` It is no longer on your ${LIST_NAME[c.movedFrom]}.` : '');

/**
 * Said after an entry went on the allow list where, in the running config, no allow entry can count (allow-rule.ts:
 * a proof of the sender is asked that no check of the gateway gives): "is on your allow list now" alone promised mail
 * that will still be held. The page's section on the lists says it at length; this says it where the eye is.
 */
export const ALLOW_DOES_NOT_COUNT = 'Note: on this gateway your allow list does not let mail through for now, because the gateway '
  + 'cannot check that mail really comes from the sender it names. The entry only undoes a block of the same sender '
  + '(more under "Your sender lists" below).';

const allowCannotCount = (rule: AllowRule | undefined): boolean => !!rule && rule.needsAuth && !rule.envelopeProvable && !rule.fromProvable;

/**
 * A notice's title and sentences; `to` is the address the page is for, `allowRule` what an allow entry does in the
 * running config (undefined: not known, and nothing is said of it).
 */
export function outcomeNotice(o: Outcome, to: string, allowRule?: AllowRule): { title: string; lines: string[] } {
  const notice = noticeOf(o, to);
  const allowed = o.did === 'allowed' || (o.did === 'added' && o.change.list === 'allow');
  if (allowed && allowCannotCount(allowRule)) notice.lines.push(ALLOW_DOES_NOT_COUNT);
  return notice;
}

function noticeOf(o: Outcome, to: string): { title: string; lines: string[] } {
  switch (o.did) {
    case 'released': return { title: 'Released', lines: [`The message is on its way to ${to}.`] };
    case 'deleted': return { title: 'Deleted', lines: [`The message was deleted for ${to}.`] };
    case 'released-many': case 'deleted-many': return bulkNotice(o.did, o.counts, to);
    case 'added': return { title: o.change.added === 'added' ? 'Added' : 'Already listed', lines: [changeText(o.change)] };
    case 'removed': return {
      title: o.removed ? 'Removed' : 'Not listed',
      lines: [o.removed ? `${o.entry} is no longer on your ${LIST_NAME[o.list]}.` : `${o.entry} was not on your ${LIST_NAME[o.list]}.`],
    };
    default: {
      const allow = o.did === 'allowed';
      if (o.messageGone) return { title: 'Done', lines: [changeText(o.change), 'The message itself was no longer held for you.'] };
      return {
        title: allow ? 'Allowed and released' : 'Blocked and deleted',
        lines: [changeText(o.change), allow ? `The message is on its way to ${to}.` : `The message was deleted for ${to}.`],
      };
    }
  }
}

function bulkNotice(did: 'released-many' | 'deleted-many', c: BulkCounts, to: string): { title: string; lines: string[] } {
  const release = did === 'released-many';
  const lines = [release ? `${c.done} message(s) released: on their way to ${to}.` : `${c.done} message(s) deleted for ${to}.`];
  if (c.gone) lines.push(`${c.gone} message(s) were no longer held for you (released, deleted or expired meanwhile).`);
  if (c.adminOnly) lines.push(`${c.adminOnly} message(s) were not released: only your administrator can release them (each says why on the list).`);
  if (c.failed) lines.push(`${c.failed} message(s) could not be ${release ? 'released' : 'deleted'} just now: please try again later.`);
  return { title: release ? 'Released' : 'Deleted', lines };
}

/** The notice as HTML, for the top of the page the 303 leads to. */
export function noticeHtml(o: Outcome, to: string, allowRule?: AllowRule): string {
  const { title, lines } = outcomeNotice(o, to, allowRule);
  return `<div role="status"><h2>${e(title)}</h2>\n${lines.map((l) => `<p>${e(l)}</p>`).join('\n')}</div>`;
}

/**
 * 303 See Other to `target` (a path relative to the page posted to, so it works under whatever path link_base puts
 * the pages) with `fields` as its query: the browser shows that page with GET.
 */
export function seeOther(target: string, fields: Record<string, string>): HttpResponse {
  const location = `${target}?${new URLSearchParams(fields)}`;
  const answer = respond(303, page('Done', `<p><a href="${e(location)}">Continue</a></p>`));
  return { ...answer, headers: { ...answer.headers, location } };
}
