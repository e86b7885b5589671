// When a message entered its folder: its last delivery attempt for dead-letter (what moved it there), a release's
// time for a copy, else its arrival: the latest of its arrival and its history's events.
import type { QueueEntry } from './entry.ts';

export function enteredFolderAt(e: QueueEntry): number {
  return e.history.reduce((at, h) => Math.max(at, h.at), e.receivedAt);
}
