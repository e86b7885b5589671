// The Relay interface: hands one queued message to its next hop and reports per recipient.
import type { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';

/** How the hop to the next host was encrypted: TLS protocol, cipher and whether its certificate verified; or `none`. */
export type HopTls = { protocol: string; cipher: string; verified: boolean } | 'none';

export interface RecipientResult {
  address: string;
  ok: boolean;
  /** A 5xx: retrying will not help. */
  permanent: boolean;
  reply: string;
  /** No reply to the envelope came (connection, greeting, TLS or AUTH trouble): another host of the destination may do. */
  hostFailure?: boolean;
  /**
   * The connection was lost after the final dot was handed to the socket (waiting for its reply): the server may have
   * taken the message. Before that, a lost connection cut the body off, and no server keeps a message cut off.
   */
  afterEndOfData?: boolean;
  /**
   * Accepted by a next hop that does not offer DSN while the recipient's NOTIFY asked for SUCCESS: the duty to report
   * ends here, so the sender is owed a notice with Action: relayed (RFC 3461 §4.1).
   */
  relayedWithoutDsn?: boolean;
  /** The host that gave `reply` (its name, or its address when it has none): a notice's Remote-MTA. */
  remoteMta?: string;
  /**
   * The next hop this result came from, as Postfix's `relay=` names it: `name[address]:port` of the server that
   * answered, or of the last one tried when none did (`name:port` when no address was reached); `file` for the file
   * relay. Absent when no host was tried (a size over the route's cap, an MX lookup that failed).
   */
  relay?: string;
  /** The session that gave `reply`: its TLS, for the delivery lines. Absent when no session gave one (the file relay). */
  tls?: HopTls;
  /**
   * The gateway stopped this recipient's transaction before it began (waiting for a connection) or cut it off before
   * the final reply: nothing was delivered and no attempt is to be counted; the message is sent again later.
   */
  notAttempted?: boolean;
  /** The next hop was the gateway itself (554 5.4.6): a host tried before it may still have failed only for now. */
  loopsBack?: boolean;
  /**
   * The next hop asked us to slow down (a 421, or a 4.7.x refusal, in answer to MAIL FROM) while its pool was down to
   * one connection: the queue holds its destination back for a while, as a down one (core/relay/smtp-pool.ts).
   */
  slowDown?: boolean;
}

export interface Relay {
  readonly name: string;
  /** Delivers `message` to `recipients` (a subset of the entry's). Never throws: failures come back per recipient. */
  send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]>;
  /** Which destination a recipient goes to (its route, or its domain for MX delivery); one destination when absent. */
  destination?(address: string): string;
  /**
   * A stop begins: no transaction starts any more. Sends waiting for a connection, and later ones, come back
   * `notAttempted`; transactions under way go on.
   */
  stopStarting?(): void;
  /** The stop's grace is over: transactions still under way are ended now and come back `notAttempted`. */
  cutOff?(): void;
  close(): Promise<void>;
}
