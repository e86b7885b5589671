// The quarantine digest's links, as routes of the gateway's web server: GET shows what the link is about and a button;
// only POST releases or deletes, since mail link scanners and previews fetch every GET link of a mail. The POST is
// answered 303 See Other to the link's page, which then says what was done, so a refresh does not post again. The ticket in
// the link is the only authentication (no login, as in Proxmox Mail Gateway's spam report), so the routes answer
// over HTTPS only, and the ticket is never logged nor sent on to another site (Referrer-Policy). They are public
// routes, open to a recipient's browser wherever it is, and only while link_base is set: an administrator turns the
// self-service pages off by unsetting it (link-access.ts), and ends one mailbox's links with a revocation.
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../log/types.ts';
import type { AdminResult } from '../queue/admin-ops.ts';
import type { QueueStore } from '../queue/queue-store.ts';
import { queueIdProblem } from '../control/protocol.ts';
import type { ReleasedBy } from './released-copy.ts';
import { heldAddresses, mailboxOf } from './mailbox.ts';
import { seeOther } from './flash.ts';
import { summarize } from './summary.ts';
import { ticketAllows, verifyTicket, type Ticket, type TicketAction } from './ticket.ts';
import { errorPage, confirmPage, resultPage } from './pages.ts';
import { respond } from './page-response.ts';
import type { HttpRequest, HttpResponse, Route } from '../http/types.ts';
import type { StateStore } from '../store/types.ts';
import type { RecipientFeedback } from '../plugin/define.ts';
import type { LoadedPlugin } from '../plugin/loader.ts';
import { holdChain } from '../plugin/in-use.ts';
import type { AllowRule } from './allow-rule.ts';
import { adminOnlyRefusal, bytesForFeedback, delimitersOf, forMailbox, heldNow, recipientRoutes } from './recipient-handlers.ts';
import { previewRoute } from './preview-route.ts';
import { formPostRefusal } from './form-post.ts';
import type { Revocations } from './revocations.ts';
import { logRefusal } from './refusal-log.ts';
import { revokedRefusal, whileOffered } from './link-access.ts';


export interface QuarantineHttpDeps {
  /** The key tickets are signed with (loadTicketKey(data_dir)). */
  key: KeyObject;
  /** Where the quarantined messages are read for the confirmation page. */
  store: QueueStore;
  /** The running gateway's ControlServer.forRecipient, so the change is serialised with every other one on the message. */
  forRecipient(action: 'release' | 'delete', id: string, address: string, by: ReleasedBy): Promise<AdminResult>;
  /**
   * The state store recipients' sender lists are kept in (core/lists/user-lists.ts); without it the recipient's page
   * shows their held mail only.
   */
  lists?: StateStore;
  /**
   * The characters that start an address tag (recipientDelimiters in mailbox.ts: the user-lists plugin's
   * `recipient_delimiter` while it runs; read per request, so a reload applies it): `ann+news@` edits `ann@`'s lists,
   * the ones the plugin reads for her mail. Default none: each address is its own mailbox.
   */
  listDelimiters?: () => string;
  /** Whether the running config applies the lists (the user-lists plugin is in the chain); without it none are offered. */
  listsApplied?: () => boolean;
  /**
   * When an allow entry counts in the running config (allowRuleOf of it, read per request so a reload applies it), for
   * the recipient's page to say so; without it the page says only what holds in every config.
   */
  allowRule?: () => AllowRule | undefined;
  /** Where a recipient's judgements go (pluginFeedback: the running plugins that take them); none: nowhere. */
  feedback?: FeedbackChannel;
  /**
   * quarantine_digest.link_base of the running config (read per request, so a reload applies it): the only origin
   * whose forms may act (form-post.ts). While it reads unset the pages are off (link-access.ts); without the
   * function they are always on, and forms are judged by the host a request was sent to.
   */
  linkBase?: () => string | undefined;
  /** The mailboxes whose links were revoked (`moat quarantine revoke`); none when absent. */
  revocations?: Revocations;
  log?: Logger;
}

/** The way from the quarantine pages to the plugins that learn from a recipient's judgement (a Bayes filter). */
export interface FeedbackChannel {
  /** Whether anything takes feedback now: the message is read for it only then, as it may be megabytes. */
  wanted(): boolean;
  /** Hands `event` on; never rejects, and resolves at the latest after the channel's bound. */
  send(event: RecipientFeedback): Promise<void>;
}

/**
 * How long a page's answer waits for the plugins' feedback. Learning one message takes milliseconds, so the answer
 * normally comes after it (and the log shows the lesson before the answer); a store that hangs costs the recipient
 * this much at most, and the lesson goes on behind the answer.
 */
export const FEEDBACK_WAIT_MS = 1_000;

/**
 * The feedback channel to the plugin chain running when the recipient acts (`chain()` is read at each event, so a
 * reload's plugins get the next one). The chain is held in use until every call ended, so a reload does not close an
 * instance in the middle of its lesson; each call's error is logged under the plugin's name and passed over.
 */
export function pluginFeedback(chain: () => readonly LoadedPlugin[], log?: Logger, waitMs = FEEDBACK_WAIT_MS): FeedbackChannel {
  const takers = (plugins: readonly LoadedPlugin[]) => plugins.filter((p) => typeof p.instance.feedback === 'function');
  return {
    wanted: () => takers(chain()).length > 0,
    async send(event) {
      const plugins = chain();
      const told = takers(plugins);
      if (!told.length) return;
      const letGo = holdChain(plugins);
      const all = Promise.all(told.map(async (p) => {
        try { await p.instance.feedback!(event); } catch (e) {
          log?.warn('plugin feedback failed', { plugin: p.name, qid: event.queueId, to: [event.recipient], how: event.how, error: String((e as Error)?.message ?? e) });
        }
      })).finally(letGo);
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); timer.unref(); });
      await Promise.race([all, bound]);
      clearTimeout(timer);
    },
  };
}

type Action = TicketAction;

const NOT_VALID = 'This link is not valid. Copy the whole link from the quarantine report, or ask your administrator.';
// A message stays in the quarantine longer than its links work, and a later report lists only newer mail: the
// administrator is the way left, and the message id is what they need.
const expiredText = (id: string) => `This link has expired. To get the message, ask your administrator to release it for you: its id is ${id}.`;

// The other link of the same message is the one the recipient wants; a link passed on by someone is refused as well.
const otherAction = (action: Action) =>
  `This link is for ${action === 'release' ? 'deleting' : 'releasing'} the message, not for ${action === 'release' ? 'releasing' : 'deleting'} it. `
  + `Use the ${action === 'release' ? 'Release' : 'Delete'} link next to the message in your quarantine report.`;

/**
 * The ticket of a request, checked, and allowed `action` (a Delete link's ticket cannot release); or the response that
 * refuses it (logged with why, never with the ticket).
 */
function ticketOf(deps: QuarantineHttpDeps, req: HttpRequest, text: string | null, action: Action): Ticket | HttpResponse {
  const refused = (reason: string, qid?: string) =>
    logRefusal(deps.log, { reason, client: req.remoteAddress, path: req.path, ...(qid ? { qid } : {}) });
  if (!req.tls) {
    refused('not over HTTPS');
    return respond(403, errorPage('Forbidden', 'This page is served over HTTPS only: its link is the key to your quarantined mail.'));
  }
  const check = verifyTicket(deps.key, text ?? undefined);
  const id = 'ticket' in check && !queueIdProblem(check.ticket.id) ? check.ticket.id : undefined;
  if (!check.ok || !id) {
    refused(check.ok ? 'malformed' : check.reason, id);
    return respond(403, errorPage('Forbidden', !check.ok && check.reason === 'expired' && id ? expiredText(id) : NOT_VALID));
  }
  if (!ticketAllows(check.ticket, action)) {
    refused(`a ${check.ticket.action} link used to ${action}`, id);
    return respond(403, errorPage('Forbidden', otherAction(action)));
  }
  return revokedRefusal(deps, req, check.ticket, { qid: id }) ?? check.ticket;
}

const GONE = 'This message is no longer in the quarantine for you: it was released, deleted, or has expired.';


/**
 * The link's page: the message and its button while it is held for the ticket's mailbox (a tagged address's ticket is
 * its owner's: mailbox.ts). Once it is not, the page the POST's 303 leads to (`done=1`) says it was done; without
 * that, the link has nothing left to act on (410).
 */
async function confirm(deps: QuarantineHttpDeps, action: Action, req: HttpRequest): Promise<HttpResponse> {
  const ticket = ticketOf(deps, req, req.query.get('t'), action);
  if (!('id' in ticket)) return ticket;
  const mailbox = mailboxOf(ticket.address, delimitersOf(deps));
  const entry = await deps.store.load(ticket.id, 'quarantine');
  if (!entry || !heldAddresses(entry, mailbox, delimitersOf(deps)).length) {
    return req.query.get('done') === '1' ? respond(200, resultPage(action, mailbox)) : respond(410, errorPage('Gone', GONE));
  }
  if (action === 'release') {
    const refused = adminOnlyRefusal(deps, entry, { path: req.path, remote: req.remoteAddress, to: ticket.address });
    if (refused) return refused;
  }
  const summary = await summarize(deps.store, entry);
  return respond(200, confirmPage(action, summary, mailbox, req.query.get('t')!));
}

async function perform(deps: QuarantineHttpDeps, action: Action, req: HttpRequest): Promise<HttpResponse> {
  const form = new URLSearchParams(req.body.toString('utf8'));
  const notFromItsForm = formPostRefusal(deps, req, form);
  if (notFromItsForm) return notFromItsForm;
  const text = form.get('t');
  const ticket = ticketOf(deps, req, text, action);
  if (!('id' in ticket)) return ticket;
  let result: AdminResult;
  let lesson: Awaited<ReturnType<typeof bytesForFeedback>>;
  try {
    const held = await heldNow(deps, ticket.id, ticket.address);
    const refused = action === 'release' && held.to.length ? adminOnlyRefusal(deps, held.entry, { path: req.path, remote: req.remoteAddress, to: ticket.address }) : undefined;
    if (refused) return refused;
    // Read before the release, which may take the message out of the quarantine.
    lesson = action === 'release' ? await bytesForFeedback(deps, held, ticket.address) : undefined;
    result = await forMailbox(deps, action, held, ticket.address, { how: 'link', remote: req.remoteAddress });
  } catch {
    // Ours, and most likely passing (a full disk, a gateway stopping): the link still works later. Logged by forMailbox.
    return respond(503, errorPage('Not done', 'The gateway could not do this just now. Please try again later; the link still works.'));
  }
  if (result !== 'done') return respond(410, errorPage('Gone', GONE));
  if (lesson) await deps.feedback?.send({ kind: 'ham', recipient: lesson.to, queueId: ticket.id, raw: lesson.raw, how: 'release' });
  return seeOther(action, { t: text!, done: '1' });
}

/** GET and POST of /quarantine/release, /quarantine/delete and the recipient's page, /quarantine/mine; GET of its previews. */
export function quarantineRoutes(deps: QuarantineHttpDeps): Route[] {
  const routes: Route[] = [...recipientRoutes(deps), previewRoute(deps)];
  for (const action of ['release', 'delete'] as const) {
    const path = `/quarantine/${action}` as const;
    routes.push({ method: 'GET', path, public: true, handle: (req) => confirm(deps, action, req) });
    routes.push({ method: 'POST', path, public: true, handle: (req) => perform(deps, action, req) });
  }
  return whileOffered(deps, routes);
}
