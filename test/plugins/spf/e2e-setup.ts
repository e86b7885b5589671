// A gateway with the spf and dmarc plugins over a real DNS server on loopback, relaying to a recording smarthost.
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { startDnsServer, type DnsTestServer, type Zones } from '../../helpers/dns-server.ts';

export interface AuthGateway {
  /** The gateway, with the smarthost it relays to as `gw.sink`. */
  gw: RelayingGateway;
  dns: DnsTestServer;
  /** Waits for the relayed copy of a message whose text contains `marker`. */
  relayed(marker: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startAuthGateway(zones: Zones, plugins: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Promise<AuthGateway> {
  const dns = await startDnsServer({ zones, ttl: 5, negativeTtl: 5 });
  const gw = await startRelayingGateway({
    config: {
      server: { hostname: 'mx.receiver.test' },
      domains: ['receiver.test'],
      dns: { servers: [dns.address], timeout: 400, tries: 1 },
      plugins,
      ...extra,
    },
  });
  return {
    gw, dns,
    async relayed(marker, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const hit = gw.sink.messages.find((m) => m.raw.toString('latin1').includes(marker));
        if (hit) return hit.raw.toString('latin1');
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no relayed message contains ${marker}`);
    },
    async stop() {
      await gw.stop();
      await dns.stop();
    },
  };
}

/** Connects from 127.0.0.1 (a trusted proxy), names `ip` with XCLIENT, then greets with `helo`. */
export async function openSession(port: number, ip: string, helo: string): Promise<SmtpDialog> {
  const c = await SmtpDialog.connect(port);
  const r = await c.hello({ helo: 'proxy.test', xclient: { addr: ip, helo } });
  if (r.code !== 250) throw new Error(`session setup refused: ${r.code} ${r.text}`);
  return c;
}
