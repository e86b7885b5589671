// The quarantine digest and the per-recipient release at their edges: a full disk between the release's two steps, a
// reload while a digest runs, a message quarantined while a digest runs, and recipients of an internationalized domain.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { runDigest, startDigestSchedule, type DigestDeps } from '../../../core/quarantine/digest.ts';
import { writeLastDigest } from '../../../core/quarantine/digest-state.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { loadTicketKey, signTicket, verifyTicket } from '../../../core/quarantine/ticket.ts';
import { QueueStore, type QueueFolder } from '../../../core/queue/queue-store.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { until } from '../queue/send.ts';
import { digestText, ticketOf } from './digest-text.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function post(port: number, ca: Buffer, p: string, ticket: string): Promise<number> {
  const form = new URLSearchParams({ t: ticket }).toString();
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: p, method: 'POST', ca, servername: 'localhost', agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) },
    }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
    req.on('error', reject);
    req.end(form);
  });
}

describe('quarantine digest and release: edges', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let deps: DigestDeps;

  async function quarantine(to: string[], subject = 'hold-me'): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from: 'prize@lottery.example', to, subject, text: 'You won!' });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally { t.close(); }
  }

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com', 'bücher.example'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }],
    } });
    const rt = g.gateway.runtime;
    const cfg = validate(digestConfigSchema, {}).value;
    deps = { dataDir: g.dataDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), config: () => cfg, hostname: () => 'mx.test', localDomains: () => rt.config.domains };
  });
  afterEach(() => g.stop());

  it('a release whose mark in the quarantine failed (disk full) is not delivered again when the link is followed again', async () => {
    const qid = await quarantine(['ann@example.com', 'bob@example.com']);
    const port = g.gateway.admin!.addresses[0].port;
    const ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    const ticket = signTicket(loadTicketKey(g.dataDir), { id: qid, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    // The quarantine's state file cannot be rewritten once: the copy is queued (step 1), the mark (step 2) fails.
    // (On the prototype: the control socket's actions have a QueueStore of their own on the same data_dir.)
    const update = QueueStore.prototype.update;
    let full = true;
    QueueStore.prototype.update = async function (this: QueueStore, e: QueueEntry, folder?: QueueFolder) {
      if (folder === 'quarantine' && full) { full = false; throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); }
      return update.call(this, e, folder);
    };
    try {
      assert.equal(await post(port, ca, '/quarantine/release', ticket), 503);
    } finally { QueueStore.prototype.update = update; }
    const store = g.gateway.runtime.queue;
    await g.sink.waitFor(1);
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === `${qid}r0`), 10_000, 'the copy delivered and gone from the queue');
    // The recipient tries again, as the page said: only the mark is written this time.
    assert.equal(await post(port, ca, '/quarantine/release', ticket), 303, 'done: to the page that says so');
    await sleep(800);
    assert.deepEqual(g.sink.messages.map((m) => m.rcptTo), [['ann@example.com']], 'Ann got it once');
    const held = await store.load(qid, 'quarantine');
    assert.deepEqual(held?.recipients.map((r) => [r.address, r.status]), [['ann@example.com', 'released'], ['bob@example.com', 'pending']]);
  });

  it('a reload while a scheduled digest runs does not start a second run or a second chain of timers', async () => {
    await quarantine(['ann@example.com']);
    const cfg = validate(digestConfigSchema, { enabled: true, interval: '1h' }).value;
    const store = new QueueStore(g.dataDir);
    let runs = 0;
    // Each run starts by asking where its period ends.
    const oldest = store.oldestQuarantineCommit.bind(store);
    store.oldestQuarantineCommit = () => { runs++; return oldest(); };
    const load = store.load.bind(store);
    // A slow quarantine read keeps the first run going while the reload comes.
    store.load = async (id: string, folder?: QueueFolder) => {
      if (folder === 'quarantine') await sleep(300);
      return load(id, folder);
    };
    const schedule = startDigestSchedule({ ...deps, store, config: () => cfg });
    try {
      await sleep(200);
      schedule.rearm();
      await sleep(1500);
      assert.equal(runs, 1, 'one run: the next waits for the interval');
      assert.equal((await g.sink.waitFor(1)).length, 1);
    } finally { await schedule.stop(); }
  });

  it('a message being quarantined while a digest runs is listed in the next digest, not lost between the two', async () => {
    writeLastDigest(g.dataDir, Date.now() - 1000);
    const store = g.gateway.runtime.queue as unknown as { commitToFolder: (...a: unknown[]) => Promise<void> };
    const commit = store.commitToFolder.bind(store);
    let entered!: () => void;
    const committing = new Promise<void>((r) => { entered = r; });
    // The quarantine commit's fsyncs, slowed: the digest runs while the message is on its way in.
    store.commitToFolder = async (...a: unknown[]) => { entered(); await sleep(400); return commit(...a); };
    const sending = quarantine(['ann@example.com']);
    await committing;
    const during = await runDigest(deps);
    const qid = await sending;
    const next = await runDigest(deps);
    assert.deepEqual(during.digests, [], 'not on disk yet: not listed');
    assert.deepEqual(next.digests.map((d) => [d.to, d.messages]), [['ann@example.com', 1]], `${qid} in the next digest`);
  });

  it('sends digests to recipients of an internationalized domain, whichever form the domain and the address are in', async () => {
    await quarantine(['leser@xn--bcher-kva.example']);
    const report = await runDigest(deps, { dryRun: true });
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages]), [['leser@xn--bcher-kva.example', 1]]);
  });

  it('its links work as long as the quarantine keeps the message, unless ticket_lifetime says otherwise', async () => {
    await quarantine(['ann@example.com']);
    const key = loadTicketKey(g.dataDir);
    let digests = 0;
    const expiryOf = async (options: object, lifetime: number | null) => {
      const cfg = validate(digestConfigSchema, { link_base: 'https://mx.example.com', ...options }).value;
      const before = Date.now();
      await runDigest({ ...deps, config: () => cfg, quarantineLifetime: () => lifetime }, { all: true });
      const mail = (await g.sink.waitFor(++digests))[digests - 1];
      const ticket = ticketOf(digestText(mail.raw), 'release')!;
      const check = verifyTicket(key, ticket);
      assert.ok(check.ok);
      return check.ticket.expires - before;
    };
    const day = 86_400_000;
    const near = (ms: number, want: number) => assert.ok(Math.abs(ms - want) < 60_000, `${ms} ms, not about ${want}`);
    near(await expiryOf({}, 10 * day), 10 * day);
    near(await expiryOf({}, null), 30 * day);
    near(await expiryOf({ ticket_lifetime: '2d' }, 10 * day), 2 * day);
  });
});
