// GET /quarantine/preview: one held message's preview (preview.ts, preview-page.ts), opened from the recipient's list
// with the same recipient ticket, under the same rules as the list: HTTPS only, the ticket checked and never logged,
// the message one held for the ticket's mailbox (checked here, whatever the query names) or 410. It changes nothing.
import type { HttpRequest, HttpResponse, Route } from '../http/types.ts';
import { queueIdProblem } from '../control/protocol.ts';
import type { QuarantineHttpDeps } from './http-handlers.ts';
import { heldNow, isTicket, recipientOf } from './recipient-handlers.ts';
import { heldHeaders, summaryOf } from './summary.ts';
import { previewOf } from './preview.ts';
import { previewPage, PREVIEW_PATH } from './preview-page.ts';
import { pageNumber } from './paging.ts';
import { errorPage } from './pages.ts';
import { respond } from './page-response.ts';

const GONE = 'This message is no longer in the quarantine for you: it was released, deleted, or has expired.';

async function showPreview(deps: QuarantineHttpDeps, req: HttpRequest): Promise<HttpResponse> {
  const text = req.query.get('t');
  const ticket = recipientOf(deps, req, text);
  if (!isTicket(ticket)) return ticket;
  const id = req.query.get('id');
  if (queueIdProblem(id)) return respond(400, errorPage('Not valid', 'The link did not name a message. Go back to the list and use its links.', text!));
  const held = await heldNow(deps, id!, ticket.address);
  if (!held.entry || !held.to.length) return respond(410, errorPage('Gone', GONE, text!));
  // The summary and the preview show fields of one header section: it is read once, for both.
  const headers = await heldHeaders(deps.store, held.entry.id);
  const summary = summaryOf(held.entry, headers);
  const preview = await previewOf(deps.store, held.entry, headers);
  deps.log?.debug('quarantine preview shown to a recipient', { qid: held.id, to: [ticket.address], client: req.remoteAddress });
  return respond(200, previewPage(summary, preview, text!, pageNumber(req.query.get('page'))));
}

export function previewRoute(deps: QuarantineHttpDeps): Route {
  return { method: 'GET', path: PREVIEW_PATH, public: true, handle: (req) => showPreview(deps, req) };
}
