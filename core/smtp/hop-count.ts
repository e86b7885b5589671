// Mail loops seen in the message itself: one that has passed through too many hops is refused at the end of DATA.
import type { HeaderList } from '../message/types.ts';
import type { Reply } from './reply.ts';

/** Postfix's reply for its hopcount_limit (cleanup's "too many hops"): a loop never ends by waiting, so it is a 5xx. */
export const TOO_MANY_HOPS: Reply = { code: 554, text: '5.4.6 Too many hops' };

export interface HopCount {
  /** Received fields in the message's header section, plus the one this gateway adds. */
  hops: number;
  /** Of those it came with, the ones this gateway wrote (`by <hostname> (Mailmoat)`): a loop through us shows there. */
  ours: number;
}

/**
 * The hops of a message as Postfix's cleanup counts them for hopcount_limit: its Received fields, the one added here
 * included. Delivered-To is not counted: Postfix reads it only in local delivery, to find a forwarding loop per
 * address, and a gateway that delivers nothing locally has no such loop to find.
 */
export function countHops(headers: HeaderList, hostname: string): HopCount {
  const received = headers.all('Received');
  const byUs = ` by ${hostname.toLowerCase()} (mailmoat)`;
  return { hops: received.length + 1, ours: received.filter((v) => ` ${v.replace(/\s+/g, ' ').toLowerCase()}`.includes(byUs)).length };
}

/** Whether `count` reaches the limit: as Postfix's `hop_count >= hopcount_limit`, so a message leaves with fewer. */
export function tooManyHops(count: HopCount, maxHops: number): boolean {
  return count.hops >= maxHops;
}

