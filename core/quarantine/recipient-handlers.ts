// /quarantine/mine: the page of everything held for one mailbox, opened by the recipient ticket of its digest, and its
// POST, which releases or deletes one of its messages, puts its sender on its allow or block list, or adds and
// removes list entries, or acts on several messages at once (bulk-actions.ts). The list is shown a page at a time
// (paging.ts). The mailbox comes from the ticket alone, never from the form: a ticket acts on its own
// mailbox's messages and lists only (a tagged address's ticket is its owner's: mailbox.ts). As the message links:
// HTTPS only, the ticket never logged, GET changes nothing; a POST is answered 303 See Other to the page, saying
// what it did (flash.ts), so a refresh asks again rather than posting again.
import type { HttpRequest, HttpResponse, Route } from '../http/types.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { AdminResult } from '../queue/admin-ops.ts';
import { queueIdProblem } from '../control/protocol.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import { HeldIndex } from './held-index.ts';
import { listEntry, listsOf, putOnList, removeEntry, type ListKind } from '../lists/user-lists.ts';
import type { QuarantineHttpDeps } from './http-handlers.ts';
import { DEFAULT_DELIMITERS, heldAddresses, mailboxOf, sentToShown } from './mailbox.ts';
import { adminOnlyText, heldForText, recipientMayRelease, shownText, summarize, type QuarantinedSummary } from './summary.ts';
import { verifyRecipientTicket, type RecipientTicket } from './ticket.ts';
import { errorPage, page, backLink, type Page } from './pages.ts';
import { recipientPage } from './recipient-page.ts';
import { respond } from './page-response.ts';
import { changeText, LIST_NAME, noticeHtml, outcomeFields, outcomeOf, seeOther, type Outcome } from './flash.ts';
import { escapeHtml as e } from './html.ts';
import { PAGE_MAX, pageNumber } from './paging.ts';
import { actOnSelected, deleteAll } from './bulk-actions.ts';
import { formPostRefusal } from './form-post.ts';
import { logRefusal } from './refusal-log.ts';
import { revokedRefusal } from './link-access.ts';

export const MINE_PATH = '/quarantine/mine';

export { PAGE_MAX };
/** Message files read at once for the page's summaries. */
const READS_IN_FLIGHT = 16;

const NOT_VALID = 'This link is not valid. Copy the whole link from the quarantine report, or ask your administrator.';
const EXPIRED = 'This link has expired. Each quarantine report brings a new one; or ask your administrator.';
const GONE = 'This message is no longer in the quarantine for you: it was released, deleted, or has expired.';
const LATER = 'The gateway could not do this just now. Please try again later; the link still works.';
const BAD_ENTRY = 'is not an entry a list can hold. Give an address (user@example.org), a domain (@example.org), or a domain with its subdomains (@.example.org).';

/** The recipient ticket of a request, checked; or the response that refuses it (logged with why, never with the ticket). */
export function recipientOf(deps: QuarantineHttpDeps, req: HttpRequest, text: string | null): RecipientTicket | HttpResponse {
  const refused = (reason: string, to?: string) =>
    logRefusal(deps.log, { reason, client: req.remoteAddress, path: req.path, ...(to ? { to: [to] } : {}) });
  if (!req.tls) {
    refused('not over HTTPS');
    return respond(403, errorPage('Forbidden', 'This page is served over HTTPS only: its link is the key to your quarantined mail.'));
  }
  const check = verifyRecipientTicket(deps.key, text ?? undefined);
  if (check.ok) return revokedRefusal(deps, req, check.ticket) ?? check.ticket;
  refused(check.reason, check.reason === 'expired' ? check.ticket.address : undefined);
  return respond(403, errorPage('Forbidden', check.reason === 'expired' ? EXPIRED : NOT_VALID));
}

export const isTicket = (t: RecipientTicket | HttpResponse): t is RecipientTicket => 'address' in t;

/** The recipient delimiters in force (recipientDelimiters in mailbox.ts), read per request so a reload applies them. */
export const delimitersOf = (deps: QuarantineHttpDeps): string => deps.listDelimiters?.() ?? DEFAULT_DELIMITERS;

async function showPage(deps: QuarantineHttpDeps, index: HeldIndex, req: HttpRequest): Promise<HttpResponse> {
  const text = req.query.get('t');
  const ticket = recipientOf(deps, req, text);
  if (!isTicket(ticket)) return ticket;
  const mailbox = ownerOf(deps, ticket.address);
  const { held, total, number } = await index.page(ticket.address, pageNumber(req.query.get('page')), PAGE_MAX);
  const byId = new Map<string, QuarantinedSummary>();
  await forEachBounded(held, READS_IN_FLIGHT, async ({ entry }) => { byId.set(entry.id, await summarize(deps.store, entry)); });
  const messages = held.map(({ entry }) => byId.get(entry.id)!);
  const senderEntries = new Map<string, string>();
  for (const m of messages) {
    const entry = m.senderAddress ? listEntry(m.senderAddress) : null;
    if (entry) senderEntries.set(m.id, entry);
  }
  const sentTo = new Map<string, string[]>();
  for (const { entry, to } of held) {
    const shown = sentToShown(to, mailbox);
    if (shown.length) sentTo.set(entry.id, shown);
  }
  let lists: Record<ListKind, string[]> | undefined;
  let listsUnreadable = false;
  if (listsOffered(deps)) {
    try { lists = await listsOf(deps.lists!, mailbox); } catch (err) {
      // The held mail is still worth showing while the state store is away.
      listsUnreadable = true;
      deps.log?.warn('a recipient\'s sender lists could not be read', { to: [ticket.address], error: (err as Error).message });
    }
  }
  const outcome = outcomeOf(req.query);
  const allowRule = deps.allowRule?.();
  return respond(200, recipientPage({
    address: ticket.address, mailbox, listsOwner: mailbox, ticket: text!, messages, total, page: number, senderEntries, sentTo, lists, listsUnreadable,
    expires: ticket.expires, allowRule, ...(outcome ? { notice: noticeHtml(outcome, mailbox, allowRule) } : {}),
  }));
}

type Verb = 'release' | 'delete' | 'allow' | 'block' | 'add' | 'remove' | 'release-selected' | 'delete-selected' | 'delete-all';
const VERBS: readonly Verb[] = ['release', 'delete', 'allow', 'block', 'add', 'remove', 'release-selected', 'delete-selected', 'delete-all'];

/** Lists are offered only where something reads them: a list no plugin applies would promise what nothing does. */
function listsOffered(deps: QuarantineHttpDeps): boolean {
  return !!deps.lists && (deps.listsApplied?.() ?? true);
}

/**
 * The mailbox a ticket's address is (mailbox.ts): the address without its tag, as the user-lists plugin reads the
 * lists. Its held mail, whatever tagged form it was sent to, and its lists are what the ticket reaches.
 */
export function ownerOf(deps: QuarantineHttpDeps, address: string): string {
  return mailboxOf(address, delimitersOf(deps));
}

export interface Posted {
  deps: QuarantineHttpDeps; req: HttpRequest; form: URLSearchParams; address: string; ticket: string;
  /** The mailbox (ownerOf): whose messages and lists the POST acts on. */
  owner: string;
  /** The page of the list the form was on, shown again by the answer. */
  page: number;
  /** Told when a message was released or deleted: what is held changed, and the held index must be read again. */
  changed(): void;
}

/** The answer to a POST that did something: 303 to the page, which says what (flash.ts). */
const toPage = (p: Posted, outcome: Outcome) => seeOther('mine', { t: p.ticket, ...(p.page > 1 ? { page: String(p.page) } : {}), ...outcomeFields(outcome) });

function simplePage(p: Posted, title: string, lines: string[]): Page {
  return page(title, `${lines.map((l) => `<p>${e(l)}</p>`).join('\n')}\n${backLink(p.ticket)}`);
}

/**
 * Message `id` as the quarantine holds it now, and the addresses of the mailbox of `address` it is still held for
 * (none when it is not, or is gone). An action loads it once, for the plugins' feedback and the action both.
 */
export interface HeldNow { id: string; entry: QueueEntry | undefined; to: string[] }

export async function heldNow(deps: QuarantineHttpDeps, id: string, address: string): Promise<HeldNow> {
  const entry = await deps.store.load(id, 'quarantine');
  return { id, entry, to: entry ? heldAddresses(entry, ownerOf(deps, address), delimitersOf(deps)) : [] };
}

/**
 * The refusal of a recipient's release (or Always allow) of a message only an administrator may release (a virus),
 * logged; undefined when they may. A link or a form made before the rule, or by hand, gets this page, not the message.
 */
export function adminOnlyRefusal(deps: QuarantineHttpDeps, entry: QueueEntry | undefined, log: { path: string; remote: string; to: string }, back?: string): HttpResponse | undefined {
  if (!entry || recipientMayRelease(entry)) return undefined;
  const heldFor = heldForText(entry);
  deps.log?.warn('quarantine release refused: only an administrator may release this message', {
    qid: entry.id, to: [log.to], client: log.remote, path: log.path, ...(heldFor ? { held_for: heldFor } : {}) });
  return respond(403, errorPage('Not released', `${adminOnlyText(heldFor)} Its id is ${entry.id}.`, back));
}

const noMessageNamed = (p: Posted) => respond(400, errorPage('Not valid', 'The form did not name a message. Go back to the list and use its buttons.', p.ticket));

/** A message id from the form that is one held for the ticket's mailbox; or the response that says it is not. */
async function heldMessage(p: Posted): Promise<(HeldNow & { entry: QueueEntry }) | HttpResponse> {
  const id = p.form.get('id');
  if (queueIdProblem(id)) return noMessageNamed(p);
  const held = await heldNow(p.deps, id!, p.address);
  if (!held.entry || !held.to.length) return respond(410, errorPage('Gone', GONE, p.ticket));
  return { ...held, entry: held.entry };
}

/** Bytes of a message the plugins' feedback carries at most. */
export const FEEDBACK_MAX_BYTES = 2 * 1024 * 1024;

/**
 * The bytes of a message held for the mailbox of `address` (its first FEEDBACK_MAX_BYTES), for the plugins' feedback,
 * and the address it was sent to there: read before the action, which may take the message out of the quarantine.
 * Undefined when nothing takes feedback, or the message is not held for that mailbox.
 */
export async function bytesForFeedback(deps: QuarantineHttpDeps, held: HeldNow, address: string): Promise<{ raw: Buffer; to: string } | undefined> {
  // A message only an administrator may release (a virus) is no lesson for a spam filter, whatever the recipient does.
  if (!deps.feedback?.wanted() || !held.entry || !held.to.length || !recipientMayRelease(held.entry)) return undefined;
  try {
    // The head is what a filter learns from (the bayes plugin reads 2 MB at most); a 50 MB message is not read whole.
    const raw = await deps.store.readHead(held.id, 'quarantine', Math.min(held.entry.size, FEEDBACK_MAX_BYTES));
    // The address it was sent to: a filter keeps its own notion of whose mailbox that is.
    return raw.length ? { raw, to: held.to[0] } : undefined;
  } catch (err) {
    // Feedback is a lesson for a filter, never a reason to refuse the recipient's action.
    deps.log?.warn('a quarantined message could not be read for the plugins\' feedback', { qid: held.id, to: [address], error: (err as Error).message });
    return undefined;
  }
}

/**
 * Release or delete a message for the mailbox of `address` (heldNow): for each of its addresses the message was still
 * held for when loaded (`ann@` and `ann+shop@` may both be), through the control server, which checks each again in
 * turn with every other change to the message. Only addresses of that mailbox are ever named. 'done' when any was
 * done; thrown when the control server could not act.
 */
export async function forMailbox(deps: QuarantineHttpDeps, action: 'release' | 'delete', held: HeldNow, address: string, log: { how: string; remote: string }): Promise<AdminResult> {
  const { id, to: addresses } = held;
  let result: AdminResult = 'missing';
  for (const to of addresses) {
    try {
      const r = await deps.forRecipient(action, id, to, 'recipient');
      deps.log?.info(`quarantine ${action} by a recipient's ${log.how}`, { qid: id, to: [to], client: log.remote, result: r });
      if (r === 'done' || result === 'missing') result = r;
    } catch (err) {
      deps.log?.error(`quarantine ${action} for a recipient failed`, { qid: id, to: [to], client: log.remote, error: (err as Error).message });
      throw err;
    }
  }
  if (!addresses.length) deps.log?.info(`quarantine ${action} by a recipient's ${log.how}`, { qid: id, to: [address], client: log.remote, result });
  return result;
}

/** Release or delete for the ticket's mailbox, through the control server as the message links do. */
async function actOnMessage(p: Posted, action: 'release' | 'delete', held: HeldNow): Promise<AdminResult | Error> {
  try {
    const result = await forMailbox(p.deps, action, held, p.address, { how: 'page', remote: p.req.remoteAddress });
    if (result === 'done') p.changed();
    return result;
  } catch (err) {
    return err as Error;
  }
}

async function releaseOrDelete(p: Posted, action: 'release' | 'delete'): Promise<HttpResponse> {
  const id = p.form.get('id');
  if (queueIdProblem(id)) return noMessageNamed(p);
  const held = await heldNow(p.deps, id!, p.address).catch((err: Error) => err);
  if (held instanceof Error) return respond(503, errorPage('Not done', LATER, p.ticket));
  const refused = action === 'release' && held.to.length ? adminOnlyRefusal(p.deps, held.entry, { path: p.req.path, remote: p.req.remoteAddress, to: p.address }, p.ticket) : undefined;
  if (refused) return refused;
  // Deleting is no judgement of the message: only a release is told to the plugins.
  const lesson = action === 'release' ? await bytesForFeedback(p.deps, held, p.address) : undefined;
  // The control server checks that the message is held for this recipient, in turn with every other change to it.
  const result = await actOnMessage(p, action, held);
  if (result instanceof Error) return respond(503, errorPage('Not done', LATER, p.ticket));
  if (result !== 'done') return respond(410, errorPage('Gone', GONE, p.ticket));
  if (lesson) await p.deps.feedback?.send({ kind: 'ham', recipient: lesson.to, queueId: id!, raw: lesson.raw, how: 'release' });
  return toPage(p, { did: action === 'release' ? 'released' : 'deleted' });
}

/** Adds `entry` to one list and takes it off the other (putOnList), and logs it. */
async function putOnListLogged(p: Posted, kind: ListKind, entry: string): Promise<Awaited<ReturnType<typeof putOnList>>> {
  const r = await putOnList(p.deps.lists!, kind, p.owner, entry);
  p.deps.log?.info('recipient sender list changed', { to: [p.owner], list: kind, entry, result: r.added, ...(r.movedFrom ? { removed_from: r.movedFrom } : {}), client: p.req.remoteAddress });
  return r;
}

const fullText = (kind: ListKind) => `Your ${LIST_NAME[kind]} is full: remove some entries first.`;

/**
 * Always allow / always block, as Proxmox Mail Gateway's Whitelist and Blacklist: the sender the page names goes on
 * the list, and the message is released (allow) or deleted (block) for the recipient.
 */
async function senderToList(p: Posted, kind: ListKind): Promise<HttpResponse> {
  const held = await heldMessage(p);
  if ('status' in held) return held;
  // Always allow releases the message, and tells the plugins it is wanted: not for one only an administrator releases.
  const refused = kind === 'allow' ? adminOnlyRefusal(p.deps, held.entry, { path: p.req.path, remote: p.req.remoteAddress, to: p.address }, p.ticket) : undefined;
  if (refused) return refused;
  const summary = await summarize(p.deps.store, held.entry);
  const entry = summary.senderAddress ? listEntry(summary.senderAddress) : null;
  if (!entry) return respond(400, errorPage('Not done', 'This message\'s sender has no address a list can hold.', p.ticket));
  const r = await putOnListLogged(p, kind, entry);
  if (r.added === 'list full') return respond(409, simplePage(p, 'List full', [fullText(kind), 'The message was left as it is.']));
  const change = { entry, list: kind, added: r.added, ...(r.movedFrom ? { movedFrom: r.movedFrom } : {}) };
  const action = kind === 'allow' ? 'release' : 'delete';
  const lesson = await bytesForFeedback(p.deps, held, p.address);
  const result = await actOnMessage(p, action, held);
  if (result instanceof Error) return respond(503, simplePage(p, 'Partly done', [changeText(change), `The message could not be ${action}d just now: use its ${action === 'release' ? 'Release' : 'Delete'} button again later.`]));
  const did = kind === 'allow' ? 'allowed' : 'blocked';
  if (result !== 'done') return toPage(p, { did, change, messageGone: true });
  if (lesson) {
    await p.deps.feedback?.send(kind === 'allow'
      ? { kind: 'ham', recipient: lesson.to, queueId: held.id, raw: lesson.raw, how: 'always-allow' }
      : { kind: 'spam', recipient: lesson.to, queueId: held.id, raw: lesson.raw, how: 'always-block' });
  }
  return toPage(p, { did, change, messageGone: false });
}

async function changeList(p: Posted, verb: 'add' | 'remove'): Promise<HttpResponse> {
  const kind = p.form.get('list');
  if (kind !== 'allow' && kind !== 'block') return respond(400, errorPage('Not valid', 'Choose the allow list or the block list.', p.ticket));
  const given = p.form.get('entry') ?? '';
  const entry = listEntry(given);
  if (!entry) {
    const shown = shownText(given);
    return respond(400, errorPage('Not a valid entry', shown ? `"${shown}" ${BAD_ENTRY}` : `An empty entry ${BAD_ENTRY}`, p.ticket));
  }
  if (verb === 'add') {
    const r = await putOnListLogged(p, kind, entry);
    if (r.added === 'list full') return respond(409, simplePage(p, 'List full', [fullText(kind)]));
    return toPage(p, { did: 'added', change: { entry, list: kind, added: r.added, ...(r.movedFrom ? { movedFrom: r.movedFrom } : {}) } });
  }
  const removed = await removeEntry(p.deps.lists!, kind, p.owner, entry);
  p.deps.log?.info('recipient sender list changed', { to: [p.owner], list: kind, entry, result: removed ? 'removed' : 'not listed', client: p.req.remoteAddress });
  return toPage(p, { did: 'removed', entry, list: kind, removed });
}

async function act(deps: QuarantineHttpDeps, index: HeldIndex, req: HttpRequest): Promise<HttpResponse> {
  const form = new URLSearchParams(req.body.toString('utf8'));
  const notFromItsForm = formPostRefusal(deps, req, form);
  if (notFromItsForm) return notFromItsForm;
  const text = form.get('t');
  const ticket = recipientOf(deps, req, text);
  if (!isTicket(ticket)) return ticket;
  // The index is forgotten only once a message was released or deleted, so the recipient's next view counts afresh:
  // a POST that changed nothing (a refusal, a message already gone, a list entry) keeps it, or any ticket holder could
  // have the whole quarantine read again with each of them.
  const p: Posted = {
    deps, req, form, address: ticket.address, ticket: text!, owner: ownerOf(deps, ticket.address), page: pageNumber(form.get('page')),
    changed: () => index.invalidate(),
  };
  const verb = form.get('do') as Verb | null;
  if (!verb || !VERBS.includes(verb)) return respond(400, errorPage('Not valid', 'The form did not say what to do. Go back to the list and use its buttons.', p.ticket));
  if (verb === 'release' || verb === 'delete') return releaseOrDelete(p, verb);
  if (verb === 'release-selected' || verb === 'delete-selected' || verb === 'delete-all') {
    try {
      return verb === 'delete-all' ? await deleteAll(p, index) : await actOnSelected(p, verb === 'release-selected' ? 'release' : 'delete');
    } catch (err) {
      // The quarantine folder could not be read (each message's own failure is counted, not thrown).
      deps.log?.error('a recipient\'s action on several messages failed', { to: [p.address], action: verb, client: req.remoteAddress, error: (err as Error).message });
      return respond(503, errorPage('Not done', LATER, p.ticket));
    }
  }
  if (!listsOffered(deps)) return respond(404, errorPage('Not available', 'This gateway keeps no sender lists for its recipients.', p.ticket));
  try {
    return verb === 'allow' || verb === 'block' ? await senderToList(p, verb) : await changeList(p, verb);
  } catch (err) {
    // The state store away (Redis down) or a file that could not be read: ours, and most likely passing.
    deps.log?.error('a recipient\'s sender list could not be changed', { to: [p.address], action: verb, client: req.remoteAddress, error: (err as Error).message });
    return respond(503, errorPage('Not done', LATER, p.ticket));
  }
}

/** GET and POST of /quarantine/mine. */
export function recipientRoutes(deps: QuarantineHttpDeps): Route[] {
  const index = new HeldIndex(deps.store, { delimiters: () => delimitersOf(deps), log: deps.log });
  return [
    { method: 'GET', path: MINE_PATH, public: true, handle: (req) => showPage(deps, index, req) },
    { method: 'POST', path: MINE_PATH, public: true, handle: (req) => act(deps, index, req) },
  ];
}
