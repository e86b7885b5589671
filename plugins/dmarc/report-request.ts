// `moat dmarc report --now` asks the running gateways through the state store they share: it leaves a request, the
// first gateway with reporting on to see it builds and queues every pending report, and leaves its answer for it.
import { randomBytes } from 'node:crypto';
import type { StateStore } from '../../core/index.ts';
import type { ReportSummary } from './report-sender.ts';

const REQUEST_KEY = 'dmarc:rua:request';
const answerKey = (id: string) => `dmarc:rua:answer:${id}`;
/** A request nobody took is dropped after this long, so that a gateway started later does not act on a stale one. */
const REQUEST_TTL_MS = 10 * 60_000;
const ANSWER_TTL_MS = 60 * 60_000;

export interface ReportRequest { id: string; at: number }

export interface ReportAnswer {
  id: string;
  /** The gateway that answered (its hostname). */
  by: string;
  reports: ReportSummary[];
  /** Domains whose report could not be built or queued, and why; they are tried again at the next interval. */
  failed: Array<{ domain: string; error: string }>;
}

/** The request waiting, if any. */
export async function pendingRequest(store: StateStore): Promise<ReportRequest | undefined> {
  const raw = await store.get(REQUEST_KEY);
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as ReportRequest;
    return typeof v.id === 'string' && /^[0-9a-f]{8,64}$/.test(v.id) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Leaves the answer to `req` and takes the request away. */
export async function answerRequest(store: StateStore, req: ReportRequest, answer: Omit<ReportAnswer, 'id'>): Promise<void> {
  await store.set(answerKey(req.id), JSON.stringify({ id: req.id, ...answer }), ANSWER_TTL_MS);
  if ((await pendingRequest(store))?.id === req.id) await store.del(REQUEST_KEY);
}

/** Leaves a request, or joins the one already waiting. */
async function placeRequest(store: StateStore): Promise<{ req: ReportRequest; mine: boolean }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const req: ReportRequest = { id: randomBytes(8).toString('hex'), at: Date.now() };
    if (await store.add(REQUEST_KEY, JSON.stringify(req), REQUEST_TTL_MS)) return { req, mine: true };
    const waiting = await pendingRequest(store);
    if (waiting) return { req: waiting, mine: false };
    // A value that is no request (written by hand, damaged) would block every request until it expired.
    await store.del(REQUEST_KEY);
  }
  throw new Error('could not leave a report request in the state store');
}

/**
 * Asks for the pending reports now and waits up to `timeoutMs` for a gateway's answer; undefined when none came (no
 * gateway with reporting on shares this store). A request already waiting is joined rather than doubled.
 */
export async function requestReportsNow(store: StateStore, timeoutMs: number, pollMs = 200): Promise<ReportAnswer | undefined> {
  const { req, mine } = await placeRequest(store);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const raw = await store.get(answerKey(req.id));
    if (raw) return JSON.parse(raw) as ReportAnswer;
    if (Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  if (mine && (await pendingRequest(store))?.id === req.id) await store.del(REQUEST_KEY);
  return undefined;
}
