// Queue ids: sortable by arrival time (so the queue can deliver oldest first), unique across processes.
import { randomBytes } from 'node:crypto';

let last = 0;
let seq = 0;
// Random bytes drawn in bulk: one call to the system's generator per 1024 ids, not one per message.
let pool = Buffer.alloc(0);
let at = 0;

function random4(): string {
  if (at + 4 > pool.length) { pool = randomBytes(4096); at = 0; }
  at += 4;
  return pool.toString('hex', at - 4, at);
}

export function newQueueId(): string {
  const now = Date.now();
  seq = now === last ? seq + 1 : 0;
  last = now;
  return now.toString(36).padStart(9, '0') + seq.toString(36).padStart(2, '0') + random4();
}

/** Arrival time encoded in a queue id. */
export function queueIdTime(id: string): number {
  return parseInt(id.slice(0, 9), 36);
}
