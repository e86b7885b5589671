// Whether a quarantine link may be used at all, before what it names is looked at. The pages are the recipients' own
// way to their held mail, so they are served only while the administrator offers it (quarantine_digest.link_base, the
// setting that puts links in the digest): unset, every /quarantine/ route answers 404 with a page that says so, and the
// links already mailed stop working, whoever holds them. And a ticket issued for a mailbox before its revocation
// (revocations.ts) is refused, with a page saying the next report brings new links.
import type { HttpRequest, HttpResponse, Route } from '../http/types.ts';
import type { QuarantineHttpDeps } from './http-handlers.ts';
import { DEFAULT_DELIMITERS } from './mailbox.ts';
import { errorPage } from './pages.ts';
import { respond } from './page-response.ts';
import { logRefusal } from './refusal-log.ts';

const TURNED_OFF = 'The quarantine pages are turned off on this gateway, and their links no longer work. Ask your administrator about mail held for you.';
const REVOKED = 'This link no longer works: your administrator has withdrawn the quarantine links sent to you so far. The next quarantine report brings new ones; or ask your administrator.';

/** Whether the running config offers the pages: a gateway that gives no link_base reader (a test) always does. */
const offered = (deps: QuarantineHttpDeps): boolean => !deps.linkBase || deps.linkBase() !== undefined;

/** `routes`, each answering 404 while the pages are not offered (read per request, so a reload applies at once). */
export function whileOffered(deps: QuarantineHttpDeps, routes: readonly Route[]): Route[] {
  return routes.map((route) => ({
    ...route,
    handle: (req: HttpRequest) => {
      if (offered(deps)) return route.handle(req);
      logRefusal(deps.log, { reason: 'quarantine pages turned off (quarantine_digest.link_base unset)', client: req.remoteAddress, path: req.path });
      return Promise.resolve(respond(404, errorPage('Not available', TURNED_OFF)));
    },
  }));
}

/**
 * The refusal of a verified ticket for `ticket.address` issued before that address's (or its mailbox's) revocation,
 * logged with `fields`; undefined when it is not revoked.
 */
export function revokedRefusal(deps: QuarantineHttpDeps, req: HttpRequest, ticket: { address: string; issued?: number }, fields: Record<string, unknown> = {}): HttpResponse | undefined {
  const why = deps.revocations?.refuses(ticket.address, ticket.issued, deps.listDelimiters?.() ?? DEFAULT_DELIMITERS);
  if (!why) return undefined;
  logRefusal(deps.log, { reason: why, client: req.remoteAddress, path: req.path, ...fields, to: [ticket.address] });
  return respond(403, errorPage('Forbidden', REVOKED));
}
