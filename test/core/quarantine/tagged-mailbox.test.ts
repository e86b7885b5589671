// One digest and one page per mailbox, as Proxmox Mail Gateway users expect: mail held for a tagged address
// (`ann+shop@`, recipient delimiter `+`) is listed in `ann@`'s digest and on her page, marked with the address it was
// sent to, and a ticket for either reaches it. With real parts: a gateway whose rule quarantines mail sent to it over
// SMTP, a recording smarthost, tickets from a real digest, HTTPS requests trusting only the gateway's certificate.
// And the limit of it: no ticket reaches another mailbox's mail (`anne@`, `ann@` of another domain, `bob@`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { runDigest, type DigestDeps } from '../../../core/quarantine/digest.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { recipientDelimiters } from '../../../core/quarantine/mailbox.ts';
import { digestHtml, digestText, mineTicketOf } from './digest-text.ts';
import { askForm } from './https-form.ts';

/** The message ids a page lists, in its order (each row's form names its message). */
const listedIds = (body: string) => [...body.matchAll(/name="id" value="([0-9a-z]+)"/g)].map((m) => m[1]);

describe('the quarantine of a tagged address is its mailbox\'s: one digest, one page', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  let deps: DigestDeps;
  const ids: Record<string, string> = {};

  async function send(to: string[], subject: string): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from: 'prize@lottery.example', to, subject, text: 'You won!' });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally { t.close(); }
  }
  const statusOf = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.map((r) => [r.address, r.status]);
  const page = (t: string) => askForm(port, ca, 'GET', '/quarantine/mine', { t });
  const post = (t: string, fields: Record<string, string>) => askForm(port, ca, 'POST', '/quarantine/mine', { t, ...fields });
  const recipientTicket = (address: string) => signRecipientTicket(loadTicketKey(g.dataDir), { address, expires: Date.now() + 3_600_000 });

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com', 'example.net'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [
        { name: 'user-lists' },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    const rt = g.gateway.runtime;
    deps = {
      dataDir: g.dataDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), hostname: () => 'mx.test.example', localDomains: () => rt.config.domains,
      config: () => validate(digestConfigSchema, { link_base: 'https://mail.example.com/' }).value,
      listDelimiters: () => recipientDelimiters(rt.config),
    };
    // Oldest first, so "newest first" has one answer.
    ids.plain = await send(['ann@example.com'], 'hold-me: plain');
    ids.shop = await send(['Ann+Shop@example.com'], 'hold-me: shop');
    ids.both = await send(['ann@example.com', 'ann+news@example.com'], 'hold-me: both');
    ids.anne = await send(['anne@example.com'], 'hold-me: anne');
    ids.net = await send(['ann+shop@example.net'], 'hold-me: other domain');
    ids.bob = await send(['bob+ann@example.com'], 'hold-me: bob');
  });
  afterEach(() => g.stop());

  it('the digest: one per mailbox, its tagged mail marked with the address it was sent to', async () => {
    const report = await runDigest(deps, { all: true });
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages]).sort(), [
      ['ann@example.com', 3], ['ann@example.net', 1], ['anne@example.com', 1], ['bob@example.com', 1],
    ]);
    const mails = await g.sink.waitFor(4);
    assert.deepEqual(mails.map((m) => m.rcptTo[0]).sort(), ['ann@example.com', 'ann@example.net', 'anne@example.com', 'bob@example.com'], 'no digest to a tagged address');
    const ann = mails.find((m) => m.rcptTo[0] === 'ann@example.com')!;
    const text = digestText(ann.raw);
    assert.match(text, /^3 message\(s\) addressed to you are held/m);
    assert.match(text, /^From: +"?prize@lottery\.example"?.*\r\nTo: +Ann\+Shop@example\.com\r\nSubject: hold-me: shop\r$/m, 'marked with the address it was sent to');
    assert.match(text, /^To: +ann@example\.com, ann\+news@example\.com\r\nSubject: hold-me: both\r$/m);
    assert.match(text, /\r\nSubject: hold-me: plain\r$/m);
    assert.doesNotMatch(text, /^To: .*\r\nSubject: hold-me: plain/m, 'mail to the mailbox itself needs no mark');
    assert.doesNotMatch(text, /hold-me: (anne|other domain|bob)/);
    assert.match(digestHtml(ann.raw), /<br><small>to Ann\+Shop@example\.com<\/small>/);
    // A digest for one tagged address is its mailbox's.
    const one = await runDigest(deps, { to: 'ann+anything@example.com', all: true, dryRun: true });
    assert.deepEqual(one.digests.map((d) => [d.to, d.listed?.map((l) => [l.id, l.to])]), [
      ['ann@example.com', [[ids.both, ['ann@example.com', 'ann+news@example.com']], [ids.shop, ['Ann+Shop@example.com']], [ids.plain, undefined]]],
    ]);

    // The message link of the tagged mail releases it to the address it was sent to.
    const release = new RegExp(`Subject: hold-me: shop\\r\\nReason: .*\\r\\nRelease: https://mail\\.example\\.com/quarantine/release\\?t=([A-Za-z0-9_.-]+)`).exec(text)![1];
    const done = await askForm(port, ca, 'POST', '/quarantine/release', { t: release });
    assert.equal(done.status, 200, done.body);
    const [copy] = (await g.sink.waitFor(5)).slice(4);
    assert.deepEqual(copy.rcptTo, ['Ann+Shop@example.com']);
    assert.equal(await statusOf(ids.shop), undefined, 'its only recipient released: out of the quarantine');

    // The page of the digest's link: the mailbox's, with the tagged mail.
    const mine = mineTicketOf(text)!;
    const shown = await page(mine);
    assert.equal(shown.status, 200);
    assert.deepEqual(listedIds(shown.body), [ids.both, ids.plain]);
  });

  it('the page: a ticket for the mailbox or any tagged form of it lists all of its mail, and acts on every address of it held', async () => {
    const ann = recipientTicket('ann@example.com');
    const tagged = recipientTicket('ann+whatever@example.com');
    for (const t of [ann, tagged]) {
      const shown = await page(t);
      assert.equal(shown.status, 200);
      assert.deepEqual(listedIds(shown.body), [ids.both, ids.shop, ids.plain], 'Ann\'s mailbox only, newest first');
      assert.match(shown.body, /<h1>Mail held for ann@example\.com<\/h1>/);
      assert.match(shown.body, /prize@lottery\.example<br><small>to Ann\+Shop@example\.com<\/small><\/td><td><a href="preview\?[^"]+">hold-me: shop/);
      assert.match(shown.body, /<small>to ann@example\.com, ann\+news@example\.com<\/small><\/td><td><a href="preview\?[^"]+">hold-me: both/);
      assert.match(shown.body, /prize@lottery\.example<\/td><td><a href="preview\?[^"]+">hold-me: plain/);
    }

    // Release from the tagged address's ticket: the copy goes to the address the sender used.
    const released = await post(tagged, { id: ids.shop, do: 'release' });
    assert.equal(released.status, 200, released.body);
    const [copy] = await g.sink.waitFor(1);
    assert.deepEqual(copy.rcptTo, ['Ann+Shop@example.com']);
    assert.match(copy.raw.toString('latin1'), /^X-Mailmoat-Released: from quarantine by the recipient <Ann\+Shop@example\.com>; /m);
    // A message held for two of her addresses: one row, and Delete takes both.
    assert.equal((await post(ann, { id: ids.both, do: 'delete' })).status, 200);
    assert.equal(await statusOf(ids.both), undefined, 'both of Ann\'s addresses deleted: nothing left held');
    // Always block from the mailbox's ticket: her lists, the message deleted.
    const blocked = await post(ann, { id: ids.plain, do: 'block' });
    assert.match(blocked.body, /prize@lottery\.example is on your block list now\./);
    assert.equal(await statusOf(ids.plain), undefined);
    assert.deepEqual(listedIds((await page(tagged)).body), []);
  });

  it('reaches no other mailbox: a prefix of the same name, the same name in another domain, a tag that names her', async () => {
    const ann = recipientTicket('ann@example.com');
    const annShop = recipientTicket('ann+shop@example.com');
    for (const t of [ann, annShop]) {
      for (const other of [ids.anne, ids.net, ids.bob]) {
        for (const verb of ['release', 'delete', 'allow', 'block']) assert.equal((await post(t, { id: other, do: verb })).status, 410, `${verb} ${other}`);
      }
    }
    // The message links: a ticket names one message and an address, and acts only on that address's mailbox.
    const key = loadTicketKey(g.dataDir);
    for (const [id, address] of [[ids.anne, 'ann@example.com'], [ids.net, 'ann+shop@example.com'], [ids.bob, 'ann@example.com'], [ids.shop, 'bob@example.com']]) {
      const t = signTicket(key, { id, address, expires: Date.now() + 60_000 });
      assert.equal((await askForm(port, ca, 'GET', '/quarantine/release', { t })).status, 410, `${address} sees nothing of ${id}`);
      assert.equal((await askForm(port, ca, 'POST', '/quarantine/release', { t })).status, 410, `${address} releases nothing of ${id}`);
    }
    assert.deepEqual(await statusOf(ids.anne), [['anne@example.com', 'pending']]);
    assert.deepEqual(await statusOf(ids.net), [['ann+shop@example.net', 'pending']]);
    assert.deepEqual(await statusOf(ids.bob), [['bob+ann@example.com', 'pending']]);
    assert.deepEqual(await statusOf(ids.shop), [['Ann+Shop@example.com', 'pending']]);
    // Each of those mailboxes sees its own mail alone.
    assert.deepEqual(listedIds((await page(recipientTicket('anne@example.com'))).body), [ids.anne]);
    assert.deepEqual(listedIds((await page(recipientTicket('ann@example.net'))).body), [ids.net]);
    assert.deepEqual(listedIds((await page(recipientTicket('bob@example.com'))).body), [ids.bob]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 0, 'nothing released');
  });
});
