// Decides who gets a delivery status notification and queues it as an ordinary message from <>.
import os from 'node:os';
import type { Logger } from '../log/types.ts';
import type { QueueEntry, QueueRecipient } from './entry.ts';
import type { QueueStore } from './queue-store.ts';
import { newQueueId } from './queue-id.ts';
import { buildDsn, originalHeaders, originalMessage, RETURNED_HEADERS_LIMIT, RETURNED_MESSAGE_LIMIT, type DsnKind } from './dsn.ts';
import { headerEnd } from '../message/header-block.ts';
import { isAscii } from '../text/ascii.ts';
import type { BounceConfig } from './bounce-config.ts';
import { isOutboundSender, type OutboundSender } from '../verdict/outbound-fields.ts';

export const DEFAULT_BOUNCES: BounceConfig = {
  send: 'all', copy_to: '', postmaster: '', delay_notices: 'off', delay_after: 4 * 3_600_000,
  failure: { subject: '', text: '' }, delay: { subject: '', text: '' },
};

/** The clients each limited `send` level gives notices to, named as dkim.sign_for names them. */
const ENTITLED: Record<'trusted' | 'authenticated', readonly OutboundSender[]> = {
  trusted: ['authenticated', 'relay_networks'],
  authenticated: ['authenticated'],
};

/**
 * Why `send` withholds a notice from the sender of `entry`, or undefined when the sender is entitled to one. The client
 * is judged as it was when it sent: its login and relay.networks at acceptance, as the message's DKIM signing was.
 */
export function withheldBecause(entry: QueueEntry, send: BounceConfig['send']): string | undefined {
  if (send === 'all') return undefined;
  if (send === 'off') return 'queue.bounces.send is off';
  const relayNetwork = entry.relayNetwork === true;
  // Every entry records whether its client logged in; which login it was makes no difference here.
  if (isOutboundSender({ user: entry.authenticated ? 'login' : undefined, relayNetwork }, ENTITLED[send])) return undefined;
  return send === 'trusted'
    ? 'queue.bounces.send is trusted and the sender neither logged in nor was in relay.networks'
    : `queue.bounces.send is authenticated and the sender did not log in${relayNetwork ? ' (its client was in relay.networks: send: trusted counts those)' : ''}`;
}

export class Bouncer {
  private readonly store: QueueStore;
  private readonly log: Logger;
  config: BounceConfig = DEFAULT_BOUNCES;
  hostname = os.hostname();

  constructor(store: QueueStore, log: Logger) {
    this.store = store;
    this.log = log;
  }

  /**
   * Who a notice about `entry` goes to. Nobody for a message from <> other than our own notices, and never the
   * sender of a notice (<>). A failure notice that failed in turn is dead-lettered, and `copy_to` hears of it (Postfix's
   * double bounce to postmaster) unless it went to no one else: that is itself the admin's copy, and nothing follows
   * it, so there is no loop. The admin's copy is only for failures, and also when the sender is not entitled to one.
   */
  addressees(entry: QueueEntry, kind: DsnKind): string[] {
    const c = this.config;
    if (c.send === 'off') return [];
    if (entry.dsn) {
      const adminsOwn = entry.recipients.every((r) => r.address === c.copy_to);
      return kind === 'failure' && entry.dsn === 'failure' && c.copy_to && !adminsOwn ? [c.copy_to] : [];
    }
    if (entry.mailFrom === '') return [];
    const out: string[] = [];
    if (!withheldBecause(entry, c.send)) out.push(entry.mailFrom);
    // Delay and success notices are only ever for the sender.
    if (kind === 'failure' && c.copy_to && !out.includes(c.copy_to)) out.push(c.copy_to);
    return out;
  }

  /** An admin who limited `send` must be able to tell a notice withheld from one never owed (a sender of <>, a notice). */
  private logWithheld(entry: QueueEntry, kind: DsnKind, recipients: QueueRecipient[]): void {
    if (entry.dsn || entry.mailFrom === '') return;
    const reason = withheldBecause(entry, this.config.send);
    if (!reason) return;
    this.log.info(`${kind} notice withheld from the sender`, {
      qid: entry.id, from: entry.mailFrom, about: recipients.map((r) => r.address), reason,
    });
  }

  /** Whether a delay notice is due after a failed attempt of `entry`. */
  delayDue(entry: QueueEntry, now = Date.now()): boolean {
    const c = this.config;
    if (c.delay_notices === 'off' || now - entry.receivedAt < c.delay_after) return false;
    if (c.delay_notices === 'once' && (entry.delayNotices ?? 0) > 0) return false;
    return this.addressees(entry, 'delay').length > 0;
  }

  /**
   * Queues a notice about `recipients` of `entry` and returns its queue entry (undefined when nobody gets one).
   * Throws when it cannot be written: the caller retries later rather than lose the notice.
   */
  async notify(entry: QueueEntry, kind: DsnKind, recipients: QueueRecipient[], retryUntil?: number): Promise<QueueEntry | undefined> {
    // An address the notice is about cannot take the notice either.
    const to = this.addressees(entry, kind).filter((a) => !entry.dsn || !recipients.some((r) => r.address === a));
    if (recipients.length === 0) return undefined;
    this.logWithheld(entry, kind, recipients);
    if (to.length === 0) return undefined;
    const postmaster = this.config.postmaster || `postmaster@${this.hostname}`;
    // The notice quotes what the message carried: from its journal record or its file, wherever it is now.
    // A little more than is returned, so a section longer than that is known to be cut.
    // RET=FULL (RFC 3461 §4.3) is about failure notices only; a message that fits comes back whole.
    const wantsFull = kind === 'failure' && entry.ret === 'FULL';
    const max = Math.max(RETURNED_HEADERS_LIMIT, wantsFull ? RETURNED_MESSAGE_LIMIT : 0) + 16 * 1024;
    const head = await this.store.readHead(entry.id, 'queue', max);
    const headersCut = head.length >= max && headerEnd(head) < 0;
    let returnFull: { message: Buffer } | { tooBig: true } | undefined;
    if (wantsFull) {
      const whole = head.length < max ? originalMessage(entry, head) : undefined;
      returnFull = whole && whole.length <= RETURNED_MESSAGE_LIMIT ? { message: whole } : { tooBig: true };
    }
    const { data } = buildDsn({
      kind, entry, recipients, originalHeaders: originalHeaders(entry, head), headersCut, to: entry.dsn ? to[0] : undefined,
      hostname: this.hostname, postmaster, template: kind === 'success' ? undefined : this.config[kind], retryUntil, returnFull,
    });
    const now = Date.now();
    const dsn: QueueEntry = {
      id: newQueueId(), mailFrom: '', recipients: to.map((address) => ({ address, status: 'pending' })),
      prepend: '', remove: [], receivedAt: now, size: data.length,
      client: { ip: '127.0.0.1', helo: this.hostname }, authenticated: false,
      attempts: 0, nextAttemptAt: now, history: [], dsn: kind,
      // The notice's own header names its addressee: an address beyond ASCII needs SMTPUTF8 for the notice too.
      ...(to.some((a) => !isAscii(a)) ? { smtputf8: true } : {}),
    };
    await this.store.enqueue(dsn, data);
    const what = entry.dsn ? 'undeliverable notice: copy queued for the admin' : `${kind} notice queued`;
    this.log.info(what, {
      qid: entry.id, dsn_qid: dsn.id, to, about: recipients.map((r) => r.address),
    });
    return dsn;
  }
}
