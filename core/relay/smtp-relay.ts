// Relays queued mail to one SMTP host over a pool of connections, and turns its replies into per-recipient results.
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { QueueEntry, QueueRecipient, RecipientDsn } from '../queue/entry.ts';
import type { HopTls, RecipientResult, Relay } from './types.ts';
import type { SmarthostTarget } from './smarthost.ts';
import { NotAttemptedError, SmtpPool } from './smtp-pool.ts';
import { SmtpClientError, type DsnRequest, type Reply, type SendOptions, type TransactionResult } from './smtp-client.ts';
import { wantsNotice } from '../queue/dsn-params.ts';
import { outgoingSize } from './outgoing-stream.ts';
import { downgradeToSevenBit, type Downgraded } from './seven-bit-downgrade.ts';
import { scanSevenBit, type SevenBitScan } from '../message/seven-bit.ts';
import type { Logger } from '../log/types.ts';
import type { OutgoingSigner, SignedMessage } from '../dkim/outgoing.ts';

const line = (r: Reply) => `${r.code} ${r.text.replace(/\n/g, ' ')}`;

/** A next hop as Postfix's `relay=` names it, `name[address]:port`; `name:port` when no address was reached. */
const hopName = (name: string, address: string | undefined, port: number) => (address ? `${name}[${address}]:${port}` : `${name}:${port}`);

const entryRecipient = (entry: QueueEntry, address: string): QueueRecipient | undefined => entry.recipients.find((r) => r.address === address);

/** What the sender asked of DSN, to pass on; undefined when it asked nothing (an old entry, or no DSN parameters). */
function dsnRequest(entry: QueueEntry, recipients: string[]): DsnRequest | undefined {
  const per = new Map<string, RecipientDsn>();
  for (const a of recipients) {
    const r = entryRecipient(entry, a);
    if (r?.notify || r?.orcpt) per.set(a, { notify: r.notify, orcpt: r.orcpt });
  }
  if (!entry.ret && entry.envid === undefined && per.size === 0) return undefined;
  return { ret: entry.ret, envid: entry.envid, recipients: per };
}

/**
 * A 4xx refusal of MAIL FROM with a 4.7.x status (a rate limit, a policy of the next hop's) ends the send as a 421 to
 * it does, so the pool hears the next hop ask it to slow down (smtp-pool.ts) rather than count the session as a
 * delivery that went through; each recipient's reason is the reply, `(in reply to MAIL FROM command)`.
 */
function unlessSlowDown(t: TransactionResult, server: string): TransactionResult {
  if (t.mail.code < 400 || t.mail.code >= 500 || !/^4\.7\.\d/.test(t.mail.text)) return t;
  const e = new SmtpClientError('transaction', `${server} refused MAIL FROM`, t.mail, false, server);
  e.inReplyTo = 'MAIL FROM';
  throw e;
}

/** Postfix's words and status for mail whose next hop is the gateway itself. */
export const loopsBackResult = (address: string): RecipientResult => ({
  address, ok: false, permanent: true, reply: `554 5.4.6 mail for ${address.slice(address.lastIndexOf('@') + 1)} loops back to myself`, loopsBack: true,
});

export class SmtpRelay implements Relay {
  readonly name: string;
  private readonly pool: SmtpPool;
  /** Who answers for this relay's replies, for notices (RFC 3464 Remote-MTA). */
  private readonly remoteMta: string;
  /** Where it connects, for the `relay` of each result: an address given as the host is known before any connection. */
  private readonly port: number;
  private readonly knownAddress: string | undefined;
  private readonly signer?: OutgoingSigner;

  /**
   * `log` gets what a session had to give up on (AUTH the server does not offer, a TLS handshake that failed).
   * `signer` puts our DKIM signature on the bytes as they go, after any 7-bit downgrade.
   */
  constructor(target: SmarthostTarget, heloName: string, log?: Logger, signer?: OutgoingSigner) {
    this.signer = signer;
    this.name = target.display;
    this.remoteMta = target.servername ?? target.host;
    this.port = target.port;
    this.knownAddress = isIP(target.host) ? target.host : undefined;
    this.pool = new SmtpPool({
      host: target.host, port: target.port, secure: target.secure, starttls: target.starttls,
      user: target.user, pass: target.pass, tlsVerify: target.tlsVerify, tlsCaFile: target.tlsCaFile, servername: target.servername,
      timeout: target.timeout, connectTimeout: target.connectTimeout, dataDoneTimeout: target.dataDoneTimeout, ownListeners: target.ownListeners,
      heloName, log: log?.child({ relay: target.display }),
    }, target.connections);
  }

  /**
   * Delivers to `recipients`. Those a server refused with 452 (too many recipients, RFC 5321 4.5.3.1.10) while it
   * took others go out at once in a following transaction, as Postfix does, rather than waiting for a retry.
   */
  async send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    const results = new Map<string, RecipientResult>();
    let left = recipients;
    while (left.length) {
      const round = await this.transaction(entry, left, message);
      for (const r of round) results.set(r.address, r);
      const accepted = round.some((r) => r.ok);
      const tooMany = round.filter((r) => !r.ok && r.reply.startsWith('452 ')).map((r) => r.address);
      left = accepted && tooMany.length < left.length ? tooMany : [];
    }
    return recipients.map((address) => results.get(address)!);
  }

  private async transaction(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    const size = outgoingSize(entry);
    // Worked out once per transaction: a stale pooled connection replaced by a fresh one needs it again.
    let scanned: Promise<SevenBitScan> | undefined;
    const scan = () => (scanned ??= scanSevenBit(message()));
    let downgraded: Promise<Downgraded> | undefined;
    let note: string | undefined;
    // Signed once per form sent; the same entry's retries sign the same bytes at the same t=, so the same field goes.
    let signedAsIs: Promise<SignedMessage> | undefined;
    let signedDowngraded: Promise<SignedMessage> | undefined;
    const signed = (form: () => Readable): Promise<SignedMessage> => this.signer ? this.signer.sign(entry, form) : Promise.resolve({ message: form, added: 0 });
    // The form the last session sent, for the signer to log and count once a next hop took it.
    let sent: SignedMessage | undefined;
    const dsn = dsnRequest(entry, recipients);
    // Whether the server that took the message offered DSN: a pooled connection replaced on the way may differ.
    let dsnOffered = false;
    // The address of the session that answered (a host name may resolve to several), or of the last one tried.
    let address = this.knownAddress;
    // The TLS of the session that answered; none is known before a session is set up.
    let tls: HopTls | undefined;
    try {
      const t = await this.pool.with(async (c) => {
        address = c.peerAddress ?? address;
        tls = c.tls;
        dsnOffered = c.extensions.has('DSN');
        const opts: SendOptions = { smtputf8: entry.smtputf8, dsn };
        // Header fields in UTF-8 (RFC 6532) need SMTPUTF8 at the next hop, 8BITMIME or not: it covers bodies only. They
        // are not RFC 2047-encoded instead (RFC 6857's downgrade): that breaks the sender's DKIM signature, an address
        // beyond ASCII in From or To has no encoded form, and RFC 6531 §3.2 has a relay bounce what it cannot send.
        // Only mail sent with SMTPUTF8 is read for them: other mail's raw 8-bit fields go as they came.
        if (entry.smtputf8 && !c.extensions.has('SMTPUTF8')) opts.utf8Headers = (await scan()).header8bit;
        if (c.extensions.has('8BITMIME') || opts.utf8Headers) {
          const s = sent = await (signedAsIs ??= signed(message));
          return unlessSlowDown(await c.send(entry.mailFrom || '', recipients, s.message(), size + s.added, opts), this.remoteMta);
        }
        const d = await (downgraded ??= downgradeToSevenBit(message, size, scan));
        note = d.note;
        const s = sent = await (signedDowngraded ??= signed(d.message));
        return unlessSlowDown(await c.send(entry.mailFrom || '', recipients, s.message(), d.size + s.added, opts), this.remoteMta);
      });
      const relay = hopName(this.remoteMta, address, this.port);
      const took = t.data && t.data.code < 300 ? recipients.filter((_, i) => t.rcpt[i].code < 300) : [];
      if (took.length && sent) this.signer?.left(entry, sent, relay, took);
      return recipients.map((rcpt, i) => {
        const r = t.rcpt[i];
        // A recipient counts as delivered only once the message after DATA was accepted for it.
        const final = r.code < 300 ? (t.data ?? r) : r;
        const ok = r.code < 300 && !!t.data && t.data.code < 300;
        const reply = ok && note ? `${line(final)} (${note})` : line(final);
        const relayedWithoutDsn = ok && !dsnOffered && wantsNotice(entryRecipient(entry, rcpt) ?? {}, 'success');
        return { address: rcpt, ok, permanent: !ok && final.code >= 500 && final.code < 600, reply, remoteMta: this.remoteMta, relay, tls, ...(relayedWithoutDsn ? { relayedWithoutDsn } : {}) };
      });
    } catch (err) {
      // Kept from starting, or cut off, by a stop: no answer of the next hop, so nothing to hold against it.
      if (err instanceof NotAttemptedError) return recipients.map((address) => ({ address, ok: false, permanent: false, reply: err.message, notAttempted: true }));
      // No complete answer: before the envelope (connect, greeting, TLS, AUTH) another host of the destination may
      // do; a connection lost mid-transaction is temporary too.
      const e = err instanceof SmtpClientError ? err : new SmtpClientError('transaction', String((err as Error)?.message ?? err), undefined, true);
      const hostFailure = e.stage !== 'transaction' || e.network;
      const relay = hopName(this.remoteMta, address, this.port);
      // Postfix's words and status: a loop bounces at once, where a retry would only meet it again.
      // The server's own answer, which ended the session: the next hop is up, and its reply is the reason.
      if (e.inReplyTo && e.reply) {
        const reply = `${line(e.reply)} (in reply to ${e.inReplyTo} command)`;
        return recipients.map((rcpt) => ({ address: rcpt, ok: false, permanent: false, reply, remoteMta: this.remoteMta, relay, tls, ...(e.slowDown ? { slowDown: true } : {}) }));
      }
      if (e.loopsBack) return recipients.map((rcpt) => ({ ...loopsBackResult(rcpt), relay }));
      return recipients.map((rcpt) => ({ address: rcpt, ok: false, permanent: false, reply: e.replyText, hostFailure, relay, ...(e.afterEndOfData ? { afterEndOfData: true } : {}) }));
    }
  }

  stopStarting(): void { this.pool.stopStarting(); }
  cutOff(): void { this.pool.cutOff(); }
  async close(): Promise<void> { await this.pool.close(); }
}
