// Signs a queued message as the relay sends it: over the very bytes that go to the next hop, after a 7-bit downgrade
// and with long lines broken as the SMTP client will break them (README.md here says why the relay signs).
import { Readable } from 'node:stream';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { Logger } from '../log/types.ts';
import { LineLengthLimit } from '../relay/line-length-limit.ts';
import { loadKeyring, type DomainKey } from './keyring.ts';
import { dkimSignature } from './signature.ts';
import { mailauthParts } from './mailauth-parts.ts';
import { DkimDepartures, type DkimCounters, type SigningOutcome } from './departures.ts';
import type { SealOutcome } from './arc-departures.ts';

export interface SignedMessage {
  /** The message to send, our DKIM-Signature first when it was signed (a new stream each call). */
  message: () => Readable;
  /** Bytes the signature adds, for SIZE=. */
  added: number;
  /** The key it was signed with, or why a message accepted for signing was not; absent for one not to be signed. */
  outcome?: SigningOutcome;
  /** The ARC set it was sealed with, or why mail to be sealed was not; absent for mail not to be sealed (arc-seal.ts). */
  sealed?: SealOutcome;
}

/** What a relay asks of signing; absent when no domain signs. */
export interface OutgoingSigner {
  sign(entry: QueueEntry, message: () => Readable): Promise<SignedMessage>;
  /** A next hop (`relay`) accepted `sent`, what sign() gave, for the recipients `to`. */
  left(entry: QueueEntry, sent: SignedMessage, relay: string, to: string[]): void;
}

/** The stream as the SMTP client will write it: lines over 998 octets broken (core/relay/line-length-limit.ts). */
export async function* asWritten(message: Readable): AsyncGenerator<Buffer> {
  const limit = new LineLengthLimit();
  for await (const chunk of message) yield limit.push(chunk as Buffer);
}

/** `fields` in front of `message`, and `after` (the empty line a message of header fields only lacks) behind it. */
export async function* withSignature(field: Buffer, message: Readable, after: Buffer): AsyncGenerator<Buffer> {
  yield field;
  for await (const chunk of message) yield chunk as Buffer;
  if (after.length) yield after;
}

export class DkimSigner implements OutgoingSigner {
  private readonly keys: Map<string, DomainKey>;
  /** Signing domains whose key could not be read when this generation began. */
  private readonly unloaded: Set<string>;
  private readonly cfg: GatewayConfig['dkim'];
  private readonly log?: Logger;
  private readonly departures: DkimDepartures;

  /**
   * Reads the keys now: built at start and at each reload, once the config check has parsed them. `counters` gets
   * `dkim_signed` and `dkim_unsigned` as messages leave.
   */
  constructor(cfg: GatewayConfig['dkim'], log?: Logger, counters?: DkimCounters) {
    this.cfg = cfg;
    this.log = log;
    this.departures = new DkimDepartures(log, counters);
    const { keys, problems } = loadKeyring(cfg);
    this.keys = keys;
    this.unloaded = new Set(problems.map((p) => p.domain));
    for (const problem of problems) log?.error('DKIM key not loaded: its domain leaves unsigned', { dkim: problem.domain, error: problem.error });
    // Loaded now rather than at the first message, which would wait for it in the relay; never without a key.
    if (keys.size) mailauthParts();
  }

  /**
   * `message` with our signature in front when the entry was accepted for signing. Never throws: a message that
   * cannot be signed goes as it is, since it was acknowledged and a receiver may well take it unsigned.
   */
  async sign(entry: QueueEntry, message: () => Readable): Promise<SignedMessage> {
    if (!entry.dkim) return { message, added: 0 };
    const key = this.keys.get(entry.dkim);
    if (!key) {
      const unreadable = this.unloaded.has(entry.dkim);
      const why = unreadable ? 'its domain\'s key could not be read at the last start or reload' : 'the running config has no key for its domain';
      this.log?.warn(`not DKIM-signed: ${why}`, { qid: entry.id, dkim: entry.dkim });
      return { message, added: 0, outcome: { unsigned: unreadable ? 'key_unreadable' : 'no_key' } };
    }
    try {
      const signature = await dkimSignature(asWritten(message()), {
        key, fields: this.cfg.headers, oversign: this.cfg.oversign, signTime: new Date(entry.receivedAt),
      });
      const field = Buffer.from(signature.field, 'latin1');
      const after = Buffer.from(signature.after, 'latin1');
      return {
        message: () => Readable.from(withSignature(field, message(), after), { objectMode: false }), added: field.length + after.length,
        outcome: { domain: key.domain, selector: key.selector },
      };
    } catch (e) {
      this.log?.warn('DKIM signing failed: the message goes unsigned', { qid: entry.id, dkim: entry.dkim, error: String((e as Error)?.message ?? e) });
      return { message, added: 0, outcome: { unsigned: 'signing_error' } };
    }
  }

  left(entry: QueueEntry, sent: SignedMessage, relay: string, to: string[]): void {
    if (sent.outcome) this.departures.left(entry, sent.outcome, relay, to);
  }
}
