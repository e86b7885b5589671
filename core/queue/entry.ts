// The queue entry: a message's envelope and delivery state, stored as JSON beside its .eml file.

/** `deleted`: taken out by an admin (`moat queue delete --to`); never delivered, never bounced. */
export type RecipientStatus = 'pending' | 'delivered' | 'failed' | 'deleted';

export interface QueueRecipient {
  address: string;
  status: RecipientStatus;
  /** Last reply from the remote side for this recipient. */
  reply?: string;
  /** A failure notice (DSN) for this recipient has been queued. */
  notified?: boolean;
}

export interface DeliveryAttempt { at: number; result: string }

export interface QueueEntry {
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
  attempts: number;
  nextAttemptAt: number;
  lastReply?: string;
  history: DeliveryAttempt[];
  held?: boolean;
  verdict?: { action: string; score: number; symbols: string[] };
  /** This message is a delivery status notification we generated: it is never bounced itself. */
  dsn?: 'failure' | 'delay';
  /** Delay notices sent so far for this message. */
  delayNotices?: number;
  /** The client sent it with SMTPUTF8 (RFC 6531): its headers may be UTF-8, so the next hop is told so too. */
  smtputf8?: boolean;
}
