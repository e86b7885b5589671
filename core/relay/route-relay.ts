// Splits a message's recipients by route (own smarthost, MX, default) and hands each group to its relay.
import type { Readable } from 'node:stream';
import type { QueueEntry } from '../queue/entry.ts';
import type { RecipientResult, Relay } from './types.ts';
import type { Route, RouteTable } from './routes.ts';
import { outgoingSize } from './outgoing-stream.ts';

export interface RouteRelays {
  table: RouteTable;
  /** The main smarthost (or the file relay). */
  fallback: Relay;
  /** Makes the relay of a non-default route (called once per route, on first use). */
  create(route: Route): Relay;
  /** Global outbound size cap in bytes (0 = none). */
  maxOutbound: number;
}

const domainOf = (a: string) => a.slice(a.lastIndexOf('@') + 1).toLowerCase();

export class RouteRelay implements Relay {
  readonly name: string;
  private readonly r: RouteRelays;
  private readonly relays = new Map<string, Relay>();
  /** How far a stop has gone, for route relays made after it began. */
  private stop: 'none' | 'starting stopped' | 'cut off' = 'none';

  constructor(r: RouteRelays) {
    this.r = r;
    this.name = r.table.size ? `${r.fallback.name} + ${r.table.size} route(s)` : r.fallback.name;
  }

  destination(address: string): string {
    const domain = domainOf(address);
    const route = this.r.table.lookup(domain);
    return route.via === 'mx' ? `mx:${domain}` : route.via === 'default' ? '' : route.key;
  }

  async send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    const groups = new Map<string, { route: Route; rcpts: string[] }>();
    for (const address of recipients) {
      const domain = domainOf(address);
      const route = this.r.table.lookup(domain);
      // MX delivery is per domain (each has its own hosts); other routes take all their domains at once.
      const key = route.via === 'mx' ? `${route.key}|${domain}` : route.key;
      const g = groups.get(key) ?? { route, rcpts: [] };
      g.rcpts.push(address);
      groups.set(key, g);
    }
    const outSize = outgoingSize(entry);
    const parts = await Promise.all([...groups.values()].map(({ route, rcpts }) => {
      const cap = route.options.max_message_size ?? this.r.maxOutbound;
      if (cap > 0 && outSize > cap) {
        return rcpts.map((address) => ({ address, ok: false, permanent: true, reply: `552 5.3.4 Message size ${outSize} exceeds the outbound limit of ${cap} bytes` }));
      }
      const relay = route.via === 'default' ? this.r.fallback : this.relayFor(route);
      return relay.send(entry, rcpts, message);
    }));
    return parts.flat();
  }

  private relayFor(route: Route): Relay {
    let relay = this.relays.get(route.key);
    if (!relay) {
      relay = this.r.create(route);
      if (this.stop !== 'none') relay.stopStarting?.();
      if (this.stop === 'cut off') relay.cutOff?.();
      this.relays.set(route.key, relay);
    }
    return relay;
  }

  stopStarting(): void {
    if (this.stop === 'none') this.stop = 'starting stopped';
    for (const r of [this.r.fallback, ...this.relays.values()]) r.stopStarting?.();
  }

  cutOff(): void {
    this.stop = 'cut off';
    for (const r of [this.r.fallback, ...this.relays.values()]) r.cutOff?.();
  }

  async close(): Promise<void> {
    await Promise.all([this.r.fallback.close(), ...[...this.relays.values()].map((x) => x.close())]);
  }
}
