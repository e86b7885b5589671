// Which POSTs the quarantine's actions take: those its own pages' forms send. The ticket in the form's body is the real
// proof (a cross-site page cannot know it), but a link checker that POSTs to every URL it finds in a mail, or a page
// elsewhere that auto-submits a form with a ticket it learnt, must not act on the recipient's behalf. So the ticket is
// read from the body only, never from the query (the digest's links carry it there, for their GET pages), and a request
// the browser says came from another site is refused. A header that is absent says nothing (curl, an older browser)
// and is let through: the body ticket decides.
import type { HttpRequest, HttpResponse } from '../http/types.ts';
import type { QuarantineHttpDeps } from './http-handlers.ts';
import { errorPage } from './pages.ts';
import { respond } from './page-response.ts';
import { logRefusal } from './refusal-log.ts';

/** Sec-Fetch-Site values of a request this site's own page made, or the user typed. */
const OWN_SITE = new Set(['same-origin', 'none']);

const FROM_ELSEWHERE = 'This action is taken only from the quarantine\'s own pages. Open the link from your quarantine report and use the buttons on its page.';
const TICKET_IN_ADDRESS = 'This action is taken only with the buttons of its page, not by an address alone. Open the link from your quarantine report and use the buttons on its page.';

const header = (req: HttpRequest, name: string): string | undefined => {
  const v = req.headers?.[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

/**
 * The origin the quarantine's pages are served from: link_base's, which the digest's links open; without it, the
 * host this request was sent to (the pages answer over HTTPS only). Undefined when neither can be read.
 */
function pagesOrigin(deps: QuarantineHttpDeps, req: HttpRequest): string | undefined {
  const base = deps.linkBase?.();
  const host = header(req, 'host');
  const url = base ?? (host ? `https://${host}` : undefined);
  if (!url || !URL.canParse(url)) return undefined;
  return new URL(url).origin;
}

/** Why a POST did not come from the pages' own forms, or undefined when nothing says so. */
function fromElsewhere(deps: QuarantineHttpDeps, req: HttpRequest): { reason: string; fields: Record<string, string> } | undefined {
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && !OWN_SITE.has(site)) return { reason: 'cross-site request', fields: { sec_fetch_site: site.slice(0, 40) } };
  const origin = header(req, 'origin');
  // `null` is what a browser sends for a form of a page whose Referrer-Policy is no-referrer, as these pages' own are:
  // it hides the origin rather than naming another, and Sec-Fetch-Site above tells a cross-site one apart.
  if (origin === undefined || origin === 'null') return undefined;
  if (origin !== pagesOrigin(deps, req)) return { reason: 'request from another origin', fields: { origin: origin.slice(0, 200) } };
  return undefined;
}

/**
 * The refusal of a quarantine action's POST that its page's form did not send (logged with why, never with the
 * ticket); undefined when it may go on to the ticket's own checks. Not judged over plain HTTP: the ticket check
 * refuses that, and says why.
 */
export function formPostRefusal(deps: QuarantineHttpDeps, req: HttpRequest, form: URLSearchParams): HttpResponse | undefined {
  if (!req.tls) return undefined;
  const refused = (reason: string, fields: Record<string, string> = {}) =>
    logRefusal(deps.log, { reason, client: req.remoteAddress, path: req.path, ...fields });
  const elsewhere = fromElsewhere(deps, req);
  if (elsewhere) {
    refused(elsewhere.reason, elsewhere.fields);
    return respond(403, errorPage('Forbidden', FROM_ELSEWHERE));
  }
  if (!form.has('t') && req.query.has('t')) {
    refused('ticket in the query of a POST');
    return respond(400, errorPage('Not valid', TICKET_IN_ADDRESS));
  }
  return undefined;
}
