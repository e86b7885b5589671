// Direct delivery to a domain's MX hosts: tries hosts and their addresses in order until one takes the recipients.
import type { Readable } from 'node:stream';
import type { DnsResolver } from '../dns/types.ts';
import type { QueueEntry } from '../queue/entry.ts';
import type { RecipientResult, Relay } from './types.ts';
import { loopsBackResult, SmtpRelay } from './smtp-relay.ts';
import { sendInTurn, type Hop } from './host-failover.ts';
import { hostAddresses, mxHosts, type MxHost } from './mx-lookup.ts';
import type { Route } from './routes.ts';
import type { Logger } from '../log/types.ts';
import type { OutgoingSigner } from '../dkim/outgoing.ts';
import { ownListenerAt, type OwnListener } from './own-listeners.ts';

/** Like Postfix's smtp_mx_address_limit: more addresses than this are not tried in one attempt. */
const MAX_ADDRESSES = 5;
const IDLE_CLOSE_MS = 120_000;

interface Pool { relay: SmtpRelay; lastUsed: number }

/** MX hosts of one preference, in the order to try them. */
function byPreference(hosts: readonly MxHost[]): MxHost[][] {
  const groups: MxHost[][] = [];
  for (const h of hosts) {
    const last = groups.at(-1);
    if (last && last[0].preference === h.preference) last.push(h);
    else groups.push([h]);
  }
  return groups;
}

export class MxRelay implements Relay {
  readonly name = 'mx';
  private readonly dns: DnsResolver;
  private readonly heloName: string;
  private readonly route: Route;
  private readonly connections: number;
  /** One connection pool per destination address: that is where the per-destination cap applies. */
  private readonly pools = new Map<string, Pool>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly log?: Logger;
  private readonly signer?: OutgoingSigner;
  /** A stop began: no new transaction, on the pools there are or on new ones. */
  private stopping = false;
  /** An MX host that is this gateway is a loop (mail for a domain whose MX is us, routed via mx). */
  private readonly ownListeners?: readonly OwnListener[];

  constructor(dns: DnsResolver, heloName: string, route: Route, connections: number, log?: Logger, signer?: OutgoingSigner, ownListeners?: readonly OwnListener[]) {
    this.ownListeners = ownListeners;
    this.log = log;
    this.signer = signer;
    this.dns = dns;
    this.heloName = heloName;
    this.route = route;
    this.connections = route.options.connections ?? connections;
    this.sweeper = setInterval(() => this.sweep(), IDLE_CLOSE_MS / 2);
    this.sweeper.unref();
  }

  private pool(host: string, ip: string): SmtpRelay {
    const o = this.route.options;
    const key = `${ip}:${o.port}`;
    let p = this.pools.get(key);
    if (!p) {
      const relay = new SmtpRelay({
        host: ip, port: o.port, secure: false, starttls: o.starttls, user: o.user, pass: o.pass,
        tlsVerify: o.tls_verify ?? o.starttls === 'required', tlsCaFile: o.tls_ca_file, connections: this.connections,
        timeout: o.timeout, connectTimeout: o.connect_timeout, dataDoneTimeout: o.data_done_timeout,
        servername: host, display: `smtp://${host}[${ip}]:${o.port}`, ownListeners: this.ownListeners,
      }, this.heloName, this.log, this.signer);
      p = { relay, lastUsed: Date.now() };
      this.pools.set(key, p);
    }
    p.lastUsed = Date.now();
    return p.relay;
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_CLOSE_MS;
    for (const [key, p] of this.pools) if (p.lastUsed < cutoff) { this.pools.delete(key); void p.relay.close(); }
  }

  /** Delivers to recipients that all share one domain. */
  async send(entry: QueueEntry, recipients: string[], message: () => Readable): Promise<RecipientResult[]> {
    const domain = recipients[0].slice(recipients[0].lastIndexOf('@') + 1);
    const fail = (reply: string, permanent: boolean): RecipientResult[] => recipients.map((address) => ({ address, ok: false, permanent, reply }));
    const mx = await mxHosts(this.dns, domain);
    if (!mx.ok) return fail(mx.reply, mx.permanent);
    let lookupTrouble = false;
    // The MX host that is this gateway, when the list has one: a backup MX's own domain, say.
    let self: MxHost | undefined;
    const hops = async function* (this: MxRelay): AsyncGenerator<Hop> {
      let tried = 0;
      // A preference's hosts are all looked up before any is tried: one of them may be us (Postfix's best_mx).
      for (const group of byPreference(mx.hosts)) {
        const found = await Promise.all(group.map(async (host) => ({ host, ...await hostAddresses(this.dns, host.name) })));
        self = found.find((f) => this.isSelf(f.host.name, f.addresses))?.host;
        // Hosts at our preference or worse would only send the mail back here, or around us: the better ones are tried
        // and, if they all fail for now, the mail waits for them.
        if (self) return;
        for (const { host, addresses, temporary } of found) {
          if (temporary) lookupTrouble = true;
          for (const ip of addresses) {
            if (tried++ >= MAX_ADDRESSES) return;
            yield { label: `${host.name}[${ip}]`, send: (rcpts) => this.pool(host.name, ip).send(entry, rcpts, message) };
          }
        }
      }
    };
    // A 4xx to MAIL FROM or RCPT TO from a host that is not the last moves its recipients on, as no answer does.
    const results = await sendInTurn(hops.call(this), recipients, () => this.stopping);
    if (results.length) return results;
    const names = mx.hosts.map((h) => h.name).join(', ');
    if (self) return this.selfFirst(domain, self, recipients, mx.hosts[0].preference < self.preference);
    if (mx.implicit && !lookupTrouble) return fail(`550 5.1.2 ${domain}: no MX and no address records`, true);
    // MX records none of which has an address are an error to report (RFC 5321 5.1), not something time will mend.
    if (!lookupTrouble) return fail(`550 5.4.4 no address for the MX hosts of ${domain} (${names})`, true);
    return fail(`451 4.4.3 no address for the MX hosts of ${domain} (${names})`, false);
  }

  /**
   * Whether an MX host is this gateway: named as it names itself, or at an address and port one of its listeners
   * answers on. One that is us by a name in DNS alone is caught later, by its greeting, and ends the turn there.
   */
  private isSelf(name: string, addresses: readonly string[]): boolean {
    if (name === this.heloName.replace(/\.$/, '').toLowerCase()) return true;
    const own = this.ownListeners;
    return !!own?.length && addresses.some((ip) => ownListenerAt(ip, this.route.options.port, own, [this.heloName]));
  }

  /**
   * No host before ours was tried. If there are none, we are the best MX, and delivering via mx is a loop (Postfix:
   * "loops back to myself", for good); if better hosts had no address, the mail waits for them, as Postfix's
   * "unable to find primary relay" does.
   */
  private selfFirst(domain: string, self: MxHost, recipients: string[], betterListed: boolean): RecipientResult[] {
    if (betterListed) {
      return recipients.map((address) => ({ address, ok: false, permanent: false, reply: `451 4.4.4 unable to find primary relay for ${domain}: no address for its MX hosts better than ${self.name}, this gateway` }));
    }
    this.log?.error(`mail loop: ${self.name}, the best MX host of ${domain}, is this gateway`, { domain, mx: self.name });
    return recipients.map(loopsBackResult);
  }

  stopStarting(): void {
    this.stopping = true;
    for (const p of this.pools.values()) p.relay.stopStarting();
  }

  cutOff(): void {
    this.stopping = true;
    for (const p of this.pools.values()) p.relay.cutOff();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.pools.values()].map((p) => p.relay.close()));
    this.pools.clear();
  }
}
