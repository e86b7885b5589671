// Shared set-up of the Haraka shim tests: a loopback DNS server with the test zones, a private Redis, and a copy of
// the Haraka test folder pointed at that Redis.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

export const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/haraka');

/** Client addresses: public-looking (Haraka plugins skip private ones), served by the test DNS zones. */
export const IP = {
  clean: '93.184.216.1',
  listed: '93.184.216.2',
  grey: '93.184.216.5',
};

export const ZONES = {
  'example.org': {
    '@': { MX: [{ priority: 10, exchange: 'mx.example.org' }], A: ['93.184.216.34'], TXT: ['v=spf1 ip4:93.184.216.0/24 -all'] },
    mx: { A: ['93.184.216.34'] },
    mail: { A: ['93.184.216.1'] },
  },
  'example.test': { '@': { MX: [{ priority: 10, exchange: 'mx.example.test' }] }, mx: { A: ['93.184.216.40'] } },
  'neutral.org': { '@': { MX: [{ priority: 10, exchange: 'mx.example.org' }], TXT: ['v=spf1 ?all'] } },
  'nomx.test': { '@': { TXT: ['no mail here'] } },
  'bl.test': { '2.216.184.93': { A: ['127.0.0.2'], TXT: ['listed for tests'] } },
  '216.184.93.in-addr.arpa': { '1': { PTR: ['mail.example.org'] }, '5': { PTR: ['mail.example.org'] } },
};

export interface ShimWorld {
  dns: DnsTestServer;
  redis: RedisHandle;
  /** The copied Haraka folder. */
  dir: string;
  stop(): Promise<void>;
}

/** Starts DNS and Redis and prepares a Haraka folder using them. */
export async function startWorld(): Promise<ShimWorld> {
  const [dnsStart, redisStart] = await Promise.allSettled([startDnsServer({ zones: ZONES }), startRedis()]);
  if (dnsStart.status === 'rejected' || redisStart.status === 'rejected') {
    // The caller gets no world to stop: stop the half that started.
    await (dnsStart.status === 'fulfilled' ? dnsStart.value.stop() : redisStart.status === 'fulfilled' ? redisStart.value.stop() : undefined);
    throw dnsStart.status === 'rejected' ? dnsStart.reason : (redisStart as PromiseRejectedResult).reason;
  }
  const dns = dnsStart.value;
  const redis = redisStart.value;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-folder-'));
  const end = holdUntilExit({ dir });
  cpSync(FIXTURE, dir, { recursive: true });
  writeFileSync(path.join(dir, 'config', 'redis.ini'), `[server]\nhost=127.0.0.1\nport=${redis.port}\n\n[pubsub]\nhost=127.0.0.1\nport=${redis.port}\n`);
  return {
    dns, redis, dir,
    async stop() {
      await Promise.all([dns.stop(), redis.stop()]);
      end();
    },
  };
}

/** A message in wire form (CRLF added by the senders). */
export function message(opts: { from?: string; to?: string; subject?: string; extraHeaders?: string[]; body?: string; attachment?: { name: string; type: string } } = {}): string {
  const from = opts.from ?? 'alice@example.org';
  const lines = [
    `From: Alice <${from}>`, `To: ${opts.to ?? 'bob@example.test'}`, `Subject: ${opts.subject ?? 'lunch'}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`, `Message-ID: <${Math.random().toString(36).slice(2)}@example.org>`,
    'MIME-Version: 1.0', ...(opts.extraHeaders ?? []),
  ];
  if (opts.attachment) {
    lines.push('Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', opts.body ?? 'see attached', '--b1',
      `Content-Type: ${opts.attachment.type}; name="${opts.attachment.name}"`, `Content-Disposition: attachment; filename="${opts.attachment.name}"`,
      'Content-Transfer-Encoding: base64', '', Buffer.from('MZ fake program').toString('base64'), '--b1--', '');
  } else {
    lines.push('Content-Type: text/plain', '', opts.body ?? 'Shall we meet at noon?', '');
  }
  return lines.join('\r\n');
}
