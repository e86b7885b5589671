// The queue's shape, as Postfix's qshape prints it: waiting messages per domain and age bucket, each bucket twice as
// long as the one before, so a backlog building up for one destination stands out from the mail that merely waits.
import type { ListedEntry } from './inspect.ts';
import { domainOf } from './actions.ts';

/** The upper bound of each bucket in minutes; a last bucket takes every message older than the last bound. */
export const SHAPE_BOUNDS_MINUTES: readonly number[] = [5, 10, 20, 40, 80, 160, 320, 640];

export type ShapeBy = 'recipient' | 'sender';

/** One row: a domain's waiting messages in all, and by age bucket (SHAPE_BOUNDS_MINUTES, then the older ones). */
export interface ShapeRow { domain: string; messages: number; buckets: number[] }

export interface QueueShape {
  by: ShapeBy;
  /** Each bucket's ages: `0-5m`, `5-10m` … `640m+`. */
  buckets: string[];
  /** Every waiting message once, whatever its domains: a message to two domains is in two rows but once here. */
  total: ShapeRow;
  /** Busiest first; only the `top` busiest when asked. */
  domains: ShapeRow[];
  /** Domains left out by `top`. */
  omitted: number;
  /** Held messages are not waiting for delivery (qshape leaves the hold queue out too): counted here only. */
  held: number;
}

export const SHAPE_BUCKET_LABELS: readonly string[] = [
  ...SHAPE_BOUNDS_MINUTES.map((to, i) => `${i === 0 ? 0 : SHAPE_BOUNDS_MINUTES[i - 1]}-${to}m`),
  `${SHAPE_BOUNDS_MINUTES[SHAPE_BOUNDS_MINUTES.length - 1]}m+`,
];

/** The bucket of a message `ageMs` old: the first whose bound it is under. */
export function bucketOf(ageMs: number): number {
  const minutes = ageMs / 60_000;
  const i = SHAPE_BOUNDS_MINUTES.findIndex((to) => minutes < to);
  return i < 0 ? SHAPE_BOUNDS_MINUTES.length : i;
}

/** The sender's domain as `--from` names it: `<>` for the null sender (bounces and other notices). */
const senderDomain = (e: ListedEntry) => (e.mailFrom === '' ? '<>' : domainOf(e.mailFrom));

/** The domains a waiting message counts under: its sender's, or each domain it still has a recipient to deliver in. */
function domainsOf(e: ListedEntry, by: ShapeBy): Set<string> {
  if (by === 'sender') return new Set([senderDomain(e)]);
  return new Set(e.recipients.filter((r) => r.status === 'pending').map((r) => domainOf(r.address)));
}

const emptyRow = (domain: string): ShapeRow => ({ domain, messages: 0, buckets: SHAPE_BUCKET_LABELS.map(() => 0) });

function add(row: ShapeRow, bucket: number): void {
  row.messages++;
  row.buckets[bucket]++;
}

/**
 * The shape of a queue's messages (`moat queue list`'s entries of the queue folder): by recipient domain, a message
 * counts once in each domain it still has recipients in (qshape counts recipients; an admin asks how many messages
 * wait for a destination); by sender domain, once.
 */
export function queueShape(entries: readonly ListedEntry[], opts: { by: ShapeBy; top?: number; now?: number }): QueueShape {
  const now = opts.now ?? Date.now();
  const total = emptyRow('TOTAL');
  const rows = new Map<string, ShapeRow>();
  let held = 0;
  for (const e of entries) {
    if (e.held) { held++; continue; }
    const domains = domainsOf(e, opts.by);
    // A message whose recipients are all settled is on its way out of the queue, not waiting.
    if (domains.size === 0) continue;
    const bucket = bucketOf(now - e.receivedAt);
    add(total, bucket);
    for (const d of domains) {
      let row = rows.get(d);
      if (!row) { row = emptyRow(d); rows.set(d, row); }
      add(row, bucket);
    }
  }
  const sorted = [...rows.values()].sort((a, b) => b.messages - a.messages || (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  const shown = opts.top === undefined ? sorted : sorted.slice(0, opts.top);
  return { by: opts.by, buckets: [...SHAPE_BUCKET_LABELS], total, domains: shown, omitted: sorted.length - shown.length, held };
}
