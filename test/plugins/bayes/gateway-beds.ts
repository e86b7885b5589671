// What the bayes end-to-end tests share: the SMTP transaction of an outside client, two gateways that share a Redis
// and a smarthost, and a relaying gateway with its quarantine pages over HTTPS. The `use…` ones are called in a
// describe and add that describe's hooks.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { askForm } from '../../core/quarantine/https-form.ts';

/**
 * One SMTP transaction of an outside client (203.0.113.9 by XCLIENT, named `o.name` if given): MAIL FROM `o.from`
 * (x@sender.test) and every RCPT accepted, then `raw`; the reply to the message.
 */
export async function fromOutside(port: number, raw: string, rcpts: string[], o: { from?: string; name?: string } = {}): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.9', ...(o.name && { name: o.name }) } })).code, 250);
    assert.equal((await c.cmd(`MAIL FROM:<${o.from ?? 'x@sender.test'}>`)).code, 250);
    for (const to of rcpts) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
    return await c.data(raw);
  } finally {
    await c.quit();
  }
}

export interface RedisPair {
  /** The folder the dictionaries go in, removed after the describe. */
  readonly dir: string;
  readonly redis: RedisHandle;
  readonly smarthost: Smarthost;
  /** Gateway a, then b. */
  readonly gws: TestGateway[];
}

/**
 * Gateways a and b, relaying to one smarthost and keeping state in one Redis under `prefix`; `configOf` gives the rest
 * of each one's config (its plugins), after writing what it reads into `dir`.
 */
export function useRedisPair(name: string, prefix: string, configOf: (gw: 'a' | 'b', dir: string) => Promise<Record<string, unknown>>): RedisPair {
  let dir: string;
  let redis: RedisHandle;
  let smarthost: Smarthost;
  const gws: TestGateway[] = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    redis = await startRedis();
    smarthost = await startSmarthost();
    for (const gw of ['a', 'b'] as const) {
      const rest = await configOf(gw, dir);
      gws.push(await startGateway({
        config: { smarthost: `smtp://127.0.0.1:${smarthost.port}`, state: { backend: 'redis', redis: { url: redis.url, prefix } }, ...rest },
      }));
    }
  });
  after(async () => {
    for (const g of gws) await g.stop();
    await smarthost?.stop();
    await redis?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { get dir() { return dir; }, get redis() { return redis; }, get smarthost() { return smarthost; }, gws };
}

export interface QuarantinePages {
  /** The gateway `start` started, until it stops. */
  readonly gateway: RelayingGateway;
  /** Starts a relaying gateway for example.com with its pages on HTTPS (its self-signed certificate), and `config`. */
  start(config: Record<string, unknown>, dataDir?: string): Promise<RelayingGateway>;
  /** Stops it within the test, so that its dictionaries are flushed. */
  stop(): Promise<void>;
  /** Sends a message over SMTP; the queue id it was given. */
  send(to: string | string[], mail: { from: string; subject: string; text: string }): Promise<string>;
  /** The recipient `address`'s release link of message `id`, followed. */
  releaseLink(id: string, address: string): Promise<{ status: number; body: string }>;
  /** `what` (release, block, allow, delete) done on `address`'s page of held mail for message `id`. */
  onPage(address: string, id: string, what: string): Promise<{ status: number; body: string }>;
  /** Every ticket the links and pages were asked with. */
  readonly tickets: string[];
}

/** A gateway started in each test that wants one, and stopped after it. */
export function useQuarantinePages(): QuarantinePages {
  let g: RelayingGateway | undefined;
  let port = 0;
  let ca: Buffer;
  const tickets: string[] = [];
  const keep = (t: string) => { tickets.push(t); return t; };
  const key = () => loadTicketKey(bed.gateway.dataDir);
  afterEach(async () => { await g?.stop(); g = undefined; });
  const bed: QuarantinePages = {
    get gateway() { assert.ok(g, 'a gateway was started'); return g; },
    tickets,
    async start(config, dataDir) {
      g = await startRelayingGateway({ ...(dataDir ? { dataDir } : {}), config: {
        domains: ['example.com'],
        http: { listen: ['127.0.0.1:0'], tls: true },
        quarantine_digest: { link_base: 'https://mail.example.com/' },
        ...config,
      } });
      port = g.gateway.admin!.addresses[0].port;
      ca = fs.readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
      return g;
    },
    async stop() {
      await g?.stop();
      g = undefined;
    },
    async send(to, mail) {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: bed.gateway.port, secure: false, ignoreTLS: true });
      try {
        const info = await t.sendMail({ to, ...mail });
        return /queued as (\S+)/.exec(info.response)![1];
      } finally { t.close(); }
    },
    releaseLink: (id, address) => askForm(port, ca, 'POST', '/quarantine/release', { t: keep(signTicket(key(), { id, address, expires: Date.now() + 3_600_000 })) }),
    onPage: (address, id, what) => askForm(port, ca, 'POST', '/quarantine/mine', { t: keep(signRecipientTicket(key(), { address, expires: Date.now() + 3_600_000 })), id, do: what }),
  };
  return bed;
}
