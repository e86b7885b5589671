// Queue ids: sortable by arrival time (so the queue can deliver oldest first), unique across processes.
import { randomBytes } from 'node:crypto';

let last = 0;
let seq = 0;

export function newQueueId(): string {
  const now = Date.now();
  seq = now === last ? seq + 1 : 0;
  last = now;
  return now.toString(36).padStart(9, '0') + seq.toString(36).padStart(2, '0') + randomBytes(4).toString('hex');
}

/** Arrival time encoded in a queue id. */
export function queueIdTime(id: string): number {
  return parseInt(id.slice(0, 9), 36);
}
