// Release or Delete of several held messages at once from the recipient's page, as Proxmox Mail Gateway's user view
// offers: the messages ticked on a page (one POST naming each), or everything held for the mailbox ("Delete all",
// which first answers a page that asks, and acts only on the POST that confirms). Each message goes through the
// control server as the page's own buttons do, checked again there; one already gone is counted and passed over, so
// the answer says how many were done, gone, only the administrator's to release, or not done just now.
import type { HttpResponse } from '../http/types.ts';
import { queueIdProblem } from '../control/protocol.ts';
import { forEachBounded } from '../queue/for-each-bounded.ts';
import type { HeldIndex } from './held-index.ts';
import { adminOnlyRefusal, bytesForFeedback, forMailbox, heldNow, type HeldNow, type Posted } from './recipient-handlers.ts';
import { seeOther, outcomeFields, type BulkCounts } from './flash.ts';
import { errorPage, page } from './pages.ts';
import { respond } from './page-response.ts';
import { escapeHtml as e } from './html.ts';
import { pageHref, PAGE_MAX } from './paging.ts';

/** Messages acted on at once: each action waits on the control server and a file sync, which then overlap. */
const ACTIONS_IN_FLIGHT = 4;

const LATER = 'The gateway could not do this just now. Please try again later; the link still works.';

const zero = (): BulkCounts => ({ done: 0, gone: 0, adminOnly: 0, failed: 0 });

/** The answer to a bulk action that did what it could: 303 to the page, which says how many went which way. */
function answer(p: Posted, action: 'release' | 'delete', counts: BulkCounts, listPage: number): HttpResponse {
  p.deps.log?.info(`quarantine ${action} of several by a recipient's page`, {
    to: [p.address], done: counts.done, gone: counts.gone, admin_only: counts.adminOnly, failures: counts.failed, client: p.req.remoteAddress });
  // Nothing done and something failed: ours, and most likely passing; the recipient is asked to try again.
  if (counts.failed && !counts.done) return respond(503, errorPage('Not done', LATER, p.ticket));
  return seeOther('mine', { t: p.ticket, page: String(listPage), ...outcomeFields({ did: action === 'release' ? 'released-many' : 'deleted-many', counts }) });
}

/** One message's action for the bulk, counted; a release's feedback to the plugins is started, not awaited. */
async function actOn(p: Posted, action: 'release' | 'delete', held: HeldNow, counts: BulkCounts, told: Array<Promise<void>>): Promise<void> {
  if (!held.entry || !held.to.length) { counts.gone++; return; }
  if (action === 'release' && adminOnlyRefusal(p.deps, held.entry, { path: p.req.path, remote: p.req.remoteAddress, to: p.address })) { counts.adminOnly++; return; }
  const lesson = action === 'release' ? await bytesForFeedback(p.deps, held, p.address) : undefined;
  let result;
  try {
    result = await forMailbox(p.deps, action, held, p.address, { how: 'page', remote: p.req.remoteAddress });
  } catch {
    counts.failed++; // logged by forMailbox
    return;
  }
  if (result !== 'done') { counts.gone++; return; }
  counts.done++;
  p.changed();
  // Each send is bounded (FEEDBACK_WAIT_MS): awaited together at the end, a slow plugin costs the answer one bound, not one per message.
  if (lesson) told.push(p.deps.feedback?.send({ kind: 'ham', recipient: lesson.to, queueId: held.id, raw: lesson.raw, how: 'release' }) ?? Promise.resolve());
}

/** Release selected / Delete selected: the messages whose boxes were ticked (`ids`, at most a page of them). */
export async function actOnSelected(p: Posted, action: 'release' | 'delete'): Promise<HttpResponse> {
  const ids = [...new Set(p.form.getAll('ids'))];
  if (!ids.length) return respond(400, errorPage('Nothing selected', 'Tick the boxes of the messages first, then use Release selected or Delete selected.', p.ticket));
  if (ids.length > PAGE_MAX || ids.some((id) => queueIdProblem(id))) {
    return respond(400, errorPage('Not valid', 'The form did not name messages of your list. Go back to the list and use its boxes.', p.ticket));
  }
  const counts = zero();
  const told: Array<Promise<void>> = [];
  await forEachBounded(ids, ACTIONS_IN_FLIGHT, async (id) => {
    let held: HeldNow;
    try { held = await heldNow(p.deps, id, p.address); } catch { counts.failed++; return; }
    await actOn(p, action, held, counts, told);
  });
  await Promise.all(told);
  return answer(p, action, counts, p.page);
}

/** A time as the confirmation's form carries it: milliseconds, digits only. */
const TIME = /^\d{1,15}$/;

/**
 * Delete all held for me. Without `confirm` the answer asks (how many, and that it cannot be undone), and its form
 * carries the time it asked at: the confirmed POST deletes what had entered the quarantine by then, never a message
 * that arrived after the recipient said yes to a number.
 */
export async function deleteAll(p: Posted, index: HeldIndex): Promise<HttpResponse> {
  if (p.form.get('confirm') !== '1') {
    const held = (await index.of(p.address)).length;
    if (!held) return respond(200, page('Nothing to delete', `<p>No mail addressed to you is held in the quarantine now.</p>\n<p><a href="${e(pageHref(p.ticket, 1))}">Back to all mail held for you</a></p>`));
    const form = `<form method="post"><input type="hidden" name="t" value="${e(p.ticket)}"><input type="hidden" name="confirm" value="1">`
      + `<input type="hidden" name="upto" value="${Date.now()}"><input type="hidden" name="page" value="1">`
      + `<button type="submit" name="do" value="delete-all">${e(`Delete all ${held}`)}</button></form>`;
    return respond(200, page('Delete all held mail?', [
      `<p>${e(`Delete all ${held} message(s) held in the quarantine for ${p.owner}? None of them will be delivered to you, and this cannot be undone. Mail that reaches the quarantine after this page was shown is kept.`)}</p>`,
      `<p>${form} <a href="${e(pageHref(p.ticket, p.page))}">No, keep them</a></p>`,
    ].join('\n')));
  }
  const upto = p.form.get('upto') ?? '';
  if (!TIME.test(upto)) return respond(400, errorPage('Not valid', 'The form did not say what to delete. Go back to the list and use its buttons.', p.ticket));
  // The index as the page that asked counted it (read at most 10 s before), up to the time the recipient was asked: a
  // confirmation does not have the folder read again, or any ticket holder could have it read at will.
  const all = (await index.of(p.address)).filter((h) => h.enteredAt <= Number(upto));
  const counts = zero();
  const mailbox = index.mailboxOf(p.address);
  // A page's worth loaded at a time, so a mailbox of 20,000 held never has all their entries in memory at once.
  for (let at = 0; at < all.length; at += PAGE_MAX) {
    const slice = all.slice(at, at + PAGE_MAX);
    let loaded;
    try { loaded = await index.load(mailbox, slice); } catch { counts.failed += slice.length; continue; }
    counts.gone += slice.length - loaded.length;
    await forEachBounded(loaded, ACTIONS_IN_FLIGHT, ({ entry, to }) => actOn(p, 'delete', { id: entry.id, entry, to }, counts, []));
  }
  return answer(p, 'delete', counts, 1);
}
