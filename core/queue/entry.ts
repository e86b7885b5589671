// The queue entry: a message's envelope and delivery state, stored as JSON beside its .eml file.

/**
 * `deleted`: taken out by an admin (`moat queue delete --to`); never delivered, never bounced. `released`: released
 * from the quarantine for this recipient alone; a copy of its own (named in `reply`) delivers it, so this entry never
 * does (entries written before it was kept say `delivered` instead).
 */
export type RecipientStatus = 'pending' | 'delivered' | 'failed' | 'deleted' | 'released';

/** The DSN fields (RecipientDsn) are absent on entries written before DSN was offered, and on recipients that gave none. */
export interface QueueRecipient extends RecipientDsn {
  address: string;
  status: RecipientStatus;
  /** Last reply from the remote side for this recipient. */
  reply?: string;
  /** A failure notice (DSN) for this recipient has been queued. */
  notified?: boolean;
  /** The host that gave `reply`, when a server gave it (a notice's Remote-MTA). */
  remoteMta?: string;
  /** Relayed to a next hop without DSN while NOTIFY asked for SUCCESS: a notice saying so is still owed (RFC 3461 §4.1). */
  relayNoticeDue?: boolean;
}

export interface DeliveryAttempt { at: number; result: string }

export interface QueueEntry extends MessageDsn {
  id: string;
  mailFrom: string;
  recipients: QueueRecipient[];
  /** Header lines (CRLF-terminated) prepended when the message leaves. */
  prepend: string;
  /** Lower-case names of headers removed from the original when the message leaves. */
  remove: string[];
  receivedAt: number;
  size: number;
  client: { ip: string; helo?: string; user?: string };
  /** The sender authenticated (bounces may be limited to those). */
  authenticated: boolean;
  /** The client was in relay.networks when it sent (`queue.bounces.send: trusted`); absent on entries written before it was kept. */
  relayNetwork?: true;
  attempts: number;
  nextAttemptAt: number;
  lastReply?: string;
  history: DeliveryAttempt[];
  held?: boolean;
  /** The verdict it was accepted with; `reason` (the threshold reached, or the plugin that forced the action) since session 29. */
  verdict?: { action: string; score: number; symbols: string[]; reason?: string };
  /**
   * Quarantined by a plugin that keeps the release for an administrator (a virus): the quarantine digest and pages
   * offer the recipient no Release or Always allow, and refuse one. Absent (every entry written before it was kept):
   * the recipient may release it.
   */
  recipientMayRelease?: false;
  /** This message is a delivery status notification we generated: it is never bounced itself. */
  dsn?: 'failure' | 'delay' | 'success';
  /** Delay notices sent so far for this message. */
  delayNotices?: number;
  /**
   * The message's Message-ID as its log lines carry it (core/smtp/logged-message-id.ts), so the delivery lines can be
   * found by it too. Absent on entries written before it was kept, and on messages that have none.
   */
  messageId?: string;
  /** The client sent it with SMTPUTF8 (RFC 6531): its headers may be UTF-8, so the next hop is told so too. */
  smtputf8?: boolean;
  /** The domain whose DKIM signature the relay puts on it as it leaves (core/dkim/README.md). */
  dkim?: string;
}

/** RFC 3461 NOTIFY: `NEVER` alone, or which of the three notices the sender asked for. */
export type NotifyKeyword = 'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY';

/** What the sender asked of DSN (RFC 3461) for one recipient; absent fields were not given. */
export interface RecipientDsn {
  notify?: NotifyKeyword[];
  /** ORCPT, decoded from xtext: its address type (`rfc822`, `utf-8`…) and the address as the sender first named it. */
  orcpt?: { type: string; address: string };
}

/** What the sender asked of DSN for the whole message. */
export interface MessageDsn {
  ret?: 'FULL' | 'HDRS';
  envid?: string;
}
