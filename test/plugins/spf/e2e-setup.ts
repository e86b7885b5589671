// A gateway with the spf and dmarc plugins over a real DNS server on loopback, for the end-to-end tests.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createGateway, type Gateway } from '../../../core/gateway.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { startDnsServer, type DnsTestServer, type Zones } from '../../helpers/dns-server.ts';
import { freePort } from '../../helpers/ports.ts';
import { SmtpClient, type Reply } from './smtp-client.ts';

export interface AuthGateway {
  gateway: Gateway;
  dns: DnsTestServer;
  port: number;
  dataDir: string;
  /** Waits for the delivered copy of a message (file relay) whose text matches `marker`. */
  delivered(marker: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startAuthGateway(zones: Zones, plugins: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Promise<AuthGateway> {
  const dns = await startDnsServer({ zones, ttl: 5, negativeTtl: 5 });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mailmoat-auth-'));
  const port = await freePort();
  const config = await validateConfig({
    server: { hostname: 'mx.receiver.test', listen: [`127.0.0.1:${port}`], trusted_proxies: ['127.0.0.1/32'] },
    domains: ['receiver.test'],
    data_dir: dataDir,
    dns: { servers: [dns.address], timeout: 400, tries: 1 },
    log: { level: 'error', format: 'json' },
    plugins,
    ...extra,
  });
  const gateway = await createGateway({ config, logSink: { write() {} } });
  const deliveredDir = path.join(dataDir, 'delivered');
  return {
    gateway, dns, port, dataDir,
    async delivered(marker, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const files = await readdir(deliveredDir).catch(() => [] as string[]);
        for (const f of files) {
          const text = await readFile(path.join(deliveredDir, f), 'latin1');
          if (text.includes(marker)) return text;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no delivered message contains ${marker}`);
    },
    async stop() {
      await gateway.stop();
      await dns.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Session { client: SmtpClient; replies: Record<string, Reply> }

/** Connects from 127.0.0.1 (a trusted proxy), names `ip` with XCLIENT, then greets with `helo`. */
export async function openSession(port: number, ip: string, helo: string): Promise<SmtpClient> {
  const { client } = await SmtpClient.connect(port);
  const ehlo = await client.send('EHLO proxy.test');
  if (!/XCLIENT/.test(ehlo.text)) throw new Error(`no XCLIENT offered: ${ehlo.text}`);
  const x = await client.send(`XCLIENT ADDR=${ip} NAME=[UNAVAILABLE]`);
  if (x.code !== 220) throw new Error(`XCLIENT refused: ${x.code} ${x.text}`);
  const again = await client.send(`EHLO ${helo}`);
  if (again.code !== 250) throw new Error(`EHLO refused: ${again.code} ${again.text}`);
  return client;
}
