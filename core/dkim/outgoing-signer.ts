// What the relay signs with, built with it at start and at each reload: the DKIM signer, followed by the ARC sealer
// when `dkim.arc` is set, so that the seal covers our DKIM signature too.
import { Readable } from 'node:stream';
import type { GatewayConfig } from '../config/gateway-schema.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { Logger } from '../log/types.ts';
import { DkimSigner, withSignature, type OutgoingSigner, type SignedMessage } from './outgoing.ts';
import type { DkimCounters } from './departures.ts';
import { ArcDepartures, type ArcCounters } from './arc-departures.ts';
import { ArcSealer } from './arc-seal.ts';
import { arcWarnings } from './arc-warnings.ts';

export type OutgoingCounters = DkimCounters & ArcCounters;

class SealingSigner implements OutgoingSigner {
  private readonly dkim: DkimSigner;
  private readonly sealer: ArcSealer;
  private readonly departures: ArcDepartures;

  constructor(dkim: DkimSigner, sealer: ArcSealer, departures: ArcDepartures) {
    this.dkim = dkim;
    this.sealer = sealer;
    this.departures = departures;
  }

  async sign(entry: QueueEntry, message: () => Readable): Promise<SignedMessage> {
    const signed = await this.dkim.sign(entry, message);
    if (!this.sealer.wants(entry)) return signed;
    const { fields, after, outcome } = await this.sealer.seal(entry, signed.message);
    if (!fields.length) return { ...signed, sealed: outcome };
    return {
      message: () => Readable.from(withSignature(fields, signed.message(), after), { objectMode: false }),
      added: signed.added + fields.length + after.length, outcome: signed.outcome, sealed: outcome,
    };
  }

  left(entry: QueueEntry, sent: SignedMessage, relay: string, to: string[]): void {
    this.dkim.left(entry, sent, relay, to);
    if (sent.sealed) this.departures.left(entry, sent.sealed, relay, to);
  }
}

/** The signer of one config generation; what `dkim.arc` lacks to seal anything is logged as the relay is built. */
export function outgoingSigner(cfg: GatewayConfig, log?: Logger, counters?: OutgoingCounters): OutgoingSigner {
  const dkim = new DkimSigner(cfg.dkim, log, counters);
  if (!cfg.dkim.arc) return dkim;
  for (const warning of arcWarnings(cfg)) log?.warn(warning);
  return new SealingSigner(dkim, new ArcSealer(cfg.dkim.arc, log), new ArcDepartures(log, counters));
}
