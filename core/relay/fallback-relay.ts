// A list of smarthosts for one route (`smarthost: [url, url]`), tried in order as Postfix's relayhost with smtp_fallback_relay.
import type { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';
import type { RecipientResult, Relay } from './types.ts';
import type { SmarthostTarget } from './smarthost.ts';
import { SmtpRelay } from './smtp-relay.ts';
import { sendInTurn } from './host-failover.ts';
import type { Logger } from '../log/types.ts';
import type { OutgoingSigner } from '../dkim/outgoing.ts';

/** The hosts, each with its own pool, tried by the MX hosts' rules (host-failover.ts). */
export class FallbackRelay implements Relay {
  readonly name: string;
  private readonly relays: Relay[];
  private stopping = false;

  constructor(relays: Relay[]) {
    this.relays = relays;
    this.name = relays.map((r) => r.name).join(', ');
  }

  async send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    const hops = this.relays.map((r) => ({ send: (rcpts: string[]) => r.send(entry, rcpts, message) }));
    return sendInTurn(hops, recipients, () => this.stopping);
  }

  stopStarting(): void {
    this.stopping = true;
    for (const r of this.relays) r.stopStarting?.();
  }

  cutOff(): void {
    this.stopping = true;
    for (const r of this.relays) r.cutOff?.();
  }

  async close(): Promise<void> {
    await Promise.all(this.relays.map((r) => r.close()));
  }
}

/** The relay for a smarthost setting's targets: one SmtpRelay, or several tried in turn. */
export function smarthostRelay(targets: SmarthostTarget[], heloName: string, log?: Logger, signer?: OutgoingSigner): Relay {
  const relays = targets.map((t) => new SmtpRelay(t, heloName, log, signer));
  return relays.length === 1 ? relays[0] : new FallbackRelay(relays);
}
