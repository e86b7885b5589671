// The recipient's own page (/quarantine/mine) with real parts: a gateway whose rule quarantines mail sent to it over
// SMTP, a recording smarthost, the recipient ticket taken from a real digest, and HTTPS requests that trust only the
// gateway's own certificate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { runDigest, type DigestDeps } from '../../../core/quarantine/digest.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { PAGE_MAX } from '../../../core/quarantine/recipient-handlers.ts';
import { quarantineRoutes } from '../../../core/quarantine/http-handlers.ts';
import { startHttpListener } from '../../../core/http/server.ts';
import { ControlClient } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { addEntry, listsOf, MAX_ENTRIES } from '../../../core/lists/user-lists.ts';
import { digestHtml, digestText, mineTicketOf, ticketOf } from './digest-text.ts';
import { askForm } from './https-form.ts';

const ask = askForm;

/** The message ids a page lists, in its order (each row's form names its message). */
const listedIds = (body: string) => [...body.matchAll(/name="id" value="([0-9a-z]+)"/g)].map((m) => m[1]);
/** The entries a page shows on one list, from their Remove forms. */
const listed = (body: string, kind: 'allow' | 'block') =>
  [...body.matchAll(new RegExp(`name="list" value="${kind}"><input type="hidden" name="entry" value="([^"]+)">`, 'g'))].map((m) => m[1]);

describe('the recipient page of held mail and sender lists', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  const ids: Record<string, string> = {};

  async function send(from: string, to: string[], subject: string): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from, to, subject, text: 'Hello' });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally { t.close(); }
  }
  const held = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.map((r) => [r.address, r.status]);

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [
        { name: 'user-lists' },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    // Oldest first, a millisecond apart at least, so "newest first" has one answer.
    ids.both = await send('prize@lottery.example', ['ann@example.com', 'bob@example.com'], 'hold-me: both');
    ids.annOnly = await send('"paypal@paypal.example" <King@Spam.example>', ['ann@example.com'], 'hold-me: ann only');
    ids.bobOnly = await send('other@spam.example', ['bob@example.com'], 'hold-me: bob only');
    await send('friend@example.org', ['ann@example.com'], 'not held');
  });
  afterEach(() => g.stop());

  it('lists exactly the recipient\'s held mail from the digest\'s link, acts for that recipient only, and refuses other tickets', async () => {
    const rt = g.gateway.runtime;
    const deps: DigestDeps = {
      dataDir: g.dataDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), hostname: () => 'mx.test.example', localDomains: () => ['example.com'],
      config: () => validate(digestConfigSchema, { link_base: 'https://mail.example.com/' }).value,
    };
    await runDigest(deps, { to: 'ann@example.com' });
    // The mail not held, and the digest.
    const digest = (await g.sink.waitFor(2)).find((m) => m.mailFrom === '')!;
    assert.deepEqual(digest.rcptTo, ['ann@example.com']);
    const text = digestText(digest.raw);
    assert.match(text, /^All mail held for you \(.*\):\r\nhttps:\/\/mail\.example\.com\/quarantine\/mine\?t=/m, 'the text part has the link');
    const mine = mineTicketOf(text)!;
    assert.ok(digestHtml(digest.raw).includes(`<a href="https://mail.example.com/quarantine/mine?t=${mine}">All mail held for you</a>`), 'the HTML part too');
    const messageTicket = ticketOf(text, 'release')!;

    const page = await ask(port, ca, 'GET', '/quarantine/mine', { t: mine });
    assert.equal(page.status, 200, page.body);
    assert.deepEqual(listedIds(page.body), [ids.annOnly, ids.both], 'Ann\'s held mail only, newest first; not Bob\'s, not what was delivered');
    assert.match(page.body, /hold-me: ann only/);
    assert.match(page.body, /<td>&quot;paypal@paypal\.example&quot; &lt;King@spam\.example&gt;<\/td>/, 'the sender as the digest shows it');
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'.*form-action 'self'/);

    // Neither kind of ticket opens the other's pages.
    assert.equal((await ask(port, ca, 'GET', '/quarantine/mine', { t: messageTicket })).status, 403);
    assert.equal((await ask(port, ca, 'POST', '/quarantine/mine', { t: messageTicket, id: ids.both, do: 'release' })).status, 403);
    assert.equal((await ask(port, ca, 'GET', '/quarantine/release', { t: mine })).status, 403);
    assert.equal((await ask(port, ca, 'POST', '/quarantine/delete', { t: mine })).status, 403);
    // An expired recipient ticket shows the expired page.
    const key = loadTicketKey(g.dataDir);
    const expired = await ask(port, ca, 'GET', '/quarantine/mine', { t: signRecipientTicket(key, { address: 'ann@example.com', expires: Date.now() - 1 }) });
    assert.equal(expired.status, 403);
    assert.match(expired.body, /This link has expired\. Each quarantine report brings a new one/);

    // Bob's ticket cannot act on Ann's message: the recipient is the ticket's, whatever the form says.
    const bob = signRecipientTicket(key, { address: 'bob@example.com', expires: Date.now() + 3_600_000 });
    const bobTries = await ask(port, ca, 'POST', '/quarantine/mine', { t: bob, id: ids.annOnly, do: 'release', address: 'ann@example.com' });
    assert.equal(bobTries.status, 410);
    assert.deepEqual(await held(ids.annOnly), [['ann@example.com', 'pending']]);
    assert.deepEqual(listedIds((await ask(port, ca, 'GET', '/quarantine/mine', { t: bob })).body), [ids.bobOnly, ids.both]);
    assert.equal((await ask(port, ca, 'POST', '/quarantine/mine', { t: mine, id: '../../etc/passwd', do: 'delete' })).status, 400);

    // Ann releases the message both hold: a copy to her alone, Bob's part stays held.
    const released = await ask(port, ca, 'POST', '/quarantine/mine', { t: mine, id: ids.both, do: 'release' });
    assert.equal(released.redirect?.status, 303, 'answered with the page to GET');
    assert.equal(released.status, 200, released.body);
    assert.match(released.body, /<h2>Released<\/h2>\n<p>The message is on its way to ann@example\.com\.<\/p>/);
    const [, copy] = (await g.sink.waitFor(3)).slice(1);
    assert.deepEqual(copy.rcptTo, ['ann@example.com']);
    assert.match(copy.raw.toString('latin1'), /^Subject: hold-me: both\r$/m);
    assert.match(copy.raw.toString('latin1'), /^X-Mailmoat-Released: from quarantine by the recipient <ann@example\.com>; /m);
    assert.deepEqual(await held(ids.both), [['ann@example.com', 'released'], ['bob@example.com', 'pending']]);
    // And deletes her other one: it leaves the quarantine, nothing delivered.
    assert.equal((await ask(port, ca, 'POST', '/quarantine/mine', { t: mine, id: ids.annOnly, do: 'delete' })).status, 200);
    assert.equal(await held(ids.annOnly), undefined);
    assert.equal((await ask(port, ca, 'POST', '/quarantine/mine', { t: mine, id: ids.annOnly, do: 'delete' })).status, 410, 'done already');

    const after = await ask(port, ca, 'GET', '/quarantine/mine', { t: mine });
    assert.deepEqual(listedIds(after.body), []);
    assert.match(after.body, /No mail addressed to you is held in the quarantine now\./);
    assert.deepEqual(listedIds((await ask(port, ca, 'GET', '/quarantine/mine', { t: bob })).body), [ids.bobOnly, ids.both], 'Bob\'s untouched');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 3, 'the digest, the delivered mail, the one release');
    for (const t of [mine, bob, messageTicket]) assert.ok(g.logs.every((l) => !JSON.stringify(l).includes(t)), 'no ticket in the log');
    assert.ok(g.logs.some((l) => l.msg === 'quarantine link refused' && l.reason === 'expired' && String(l.to) === 'ann@example.com'));
  });

  it(`lists ${PAGE_MAX} a page, newest first, and says which of how many`, async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
    try {
      await Promise.all(Array.from({ length: PAGE_MAX + 1 }, (_, i) => t.sendMail({ from: 'bulk@spam.example', to: 'carol@example.com', subject: `hold-me: ${i}`, text: 'x' })));
    } finally { t.close(); }
    const carol = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'Carol@example.com', expires: Date.now() + 3_600_000 });
    const page = await ask(port, ca, 'GET', '/quarantine/mine', { t: carol });
    assert.equal(page.status, 200);
    assert.equal(listedIds(page.body).length, PAGE_MAX);
    assert.match(page.body, new RegExp(`${PAGE_MAX + 1} message\\(s\\) addressed to you are held`));
    assert.match(page.body, new RegExp(`Page 1 of 2: messages 1 to ${PAGE_MAX} of ${PAGE_MAX + 1}, ${PAGE_MAX} a page\\.`));
    const second = await ask(port, ca, 'GET', '/quarantine/mine', { t: carol, page: '2' });
    assert.equal(listedIds(second.body).length, 1, 'the oldest on the second page');
  });

  it('reads the quarantine folder once for many views at once, and shows no message released since', async () => {
    const queue = g.gateway.runtime.queue;
    const load = queue.load.bind(queue);
    // Bob's message is read only when the folder is: Ann's pages load only her own messages.
    const loads = new Map<string, number>();
    queue.load = (id, folder) => { if (folder === 'quarantine') loads.set(id, (loads.get(id) ?? 0) + 1); return load(id, folder); };
    try {
      const ann = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
      const pages = await Promise.all(Array.from({ length: 20 }, () => ask(port, ca, 'GET', '/quarantine/mine', { t: ann })));
      assert.deepEqual(pages.map((p) => listedIds(p.body).length), new Array(20).fill(2));
      assert.equal(loads.get(ids.bobOnly), 1, 'one read of the folder for 20 views');
      assert.equal(loads.get(ids.annOnly), 1 + 20, 'the folder\'s read, then each page\'s check that it is still held');
      // Released for Ann by the admin (not through the page): the index still names it, the page checks each message.
      const control = new ControlClient(socketPath(g.dataDir));
      assert.equal(await control.releaseForRecipient(ids.annOnly, 'ann@example.com'), 'done');
      const after = await ask(port, ca, 'GET', '/quarantine/mine', { t: ann });
      assert.deepEqual(listedIds(after.body), [ids.both]);
      assert.equal(loads.get(ids.bobOnly), 1);
    } finally { queue.load = load; }
  });

  it('answers over HTTPS only: the ticket would travel in clear', async () => {
    const control = new ControlClient(socketPath(g.dataDir));
    const plain = await startHttpListener({
      listen: ['127.0.0.1:0'], allowed: () => false, log: g.gateway.runtime.log,
      routes: quarantineRoutes({
        key: loadTicketKey(g.dataDir), store: g.gateway.runtime.queue, lists: g.gateway.runtime.services.store,
        forRecipient: (action, id, address) => action === 'release' ? control.releaseForRecipient(id, address) : control.deleteForRecipient(id, address),
      }),
    });
    try {
      const t = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 60_000 });
      const base = `http://127.0.0.1:${plain.addresses[0].port}/quarantine/mine`;
      const get = await fetch(`${base}?${new URLSearchParams({ t })}`);
      const post = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ t, id: ids.both, do: 'release' }).toString() });
      for (const r of [get, post]) {
        assert.equal(r.status, 403);
        assert.match(await r.text(), /over HTTPS only/);
      }
      assert.deepEqual(await held(ids.both), [['ann@example.com', 'pending'], ['bob@example.com', 'pending']]);
    } finally { await plain.close(); }
  });

  describe('with the sender lists in the gateway\'s state store', () => {
    it('always allow / block put the sender on the list and release / delete the message; entries are added and removed; another recipient\'s ticket touches none of it', async () => {
      const state = g.gateway.runtime.services.store;
      const key = loadTicketKey(g.dataDir);
      const ann = signRecipientTicket(key, { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
      const bob = signRecipientTicket(key, { address: 'bob@example.com', expires: Date.now() + 3_600_000 });
      const post = (t: string, fields: Record<string, string>) => ask(port, ca, 'POST', '/quarantine/mine', { t, ...fields });

      const empty = await ask(port, ca, 'GET', '/quarantine/mine', { t: ann });
      assert.match(empty.body, /<h3>Allow list \(0\)<\/h3>\n<p>Empty\.<\/p>/);
      assert.match(empty.body, /value="allow" aria-label="[^"]*">Always allow king@spam\.example<\/button>/, 'the button names the From\'s address, not the display name');
      assert.match(empty.body, /value="block" aria-label="[^"]*">Always block prize@lottery\.example<\/button>/);
      assert.match(empty.body, /The sender these buttons take is the address in the message&#39;s From/);

      const allowed = await post(ann, { id: ids.both, do: 'allow' });
      assert.equal(allowed.status, 200, allowed.body);
      assert.match(allowed.body, /prize@lottery\.example is on your allow list now\./);
      assert.match(allowed.body, /on its way to ann@example\.com/);
      // The mail not held, then the release.
      const [, copy] = await g.sink.waitFor(2);
      assert.deepEqual([copy.rcptTo, /^Subject: (.*)\r$/m.exec(copy.raw.toString('latin1'))?.[1]], [['ann@example.com'], 'hold-me: both']);

      const blocked = await post(ann, { id: ids.annOnly, do: 'block' });
      assert.equal(blocked.status, 200, blocked.body);
      assert.match(blocked.body, /king@spam\.example is on your block list now\./);
      assert.equal(await held(ids.annOnly), undefined, 'deleted for Ann, its only recipient');
      assert.deepEqual(await listsOf(state, 'ann@example.com'), { allow: ['prize@lottery.example'], block: ['king@spam.example'] });

      // Entries typed in: checked, kept in their lower-case form, moved from the other list rather than kept on both.
      const bad = await post(ann, { do: 'add', list: 'block', entry: 'not an address' });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /&quot;not an address&quot; is not an entry a list can hold\. Give an address/);
      assert.equal((await post(ann, { do: 'add', list: 'block', entry: ' @.Example.ORG ' })).status, 200);
      const moved = await post(ann, { do: 'add', list: 'block', entry: 'prize@lottery.example' });
      assert.match(moved.body, /prize@lottery\.example is on your block list now\. It is no longer on your allow list\./);
      const again = await post(ann, { do: 'add', list: 'block', entry: 'KING@spam.example' });
      assert.match(again.body, /king@spam\.example was on your block list already\./);
      assert.deepEqual(await listsOf(state, 'ann@example.com'), { allow: [], block: ['@.example.org', 'king@spam.example', 'prize@lottery.example'] });
      const shown = await ask(port, ca, 'GET', '/quarantine/mine', { t: ann });
      assert.deepEqual(listed(shown.body, 'block'), ['@.example.org', 'king@spam.example', 'prize@lottery.example']);

      // Bob's ticket: his own lists (empty), and nothing of Ann's moves.
      const bobPage = await ask(port, ca, 'GET', '/quarantine/mine', { t: bob });
      assert.deepEqual([listed(bobPage.body, 'allow'), listed(bobPage.body, 'block')], [[], []]);
      const bobRemoves = await post(bob, { do: 'remove', list: 'block', entry: 'king@spam.example', address: 'ann@example.com' });
      assert.match(bobRemoves.body, /king@spam\.example was not on your block list\./);
      assert.equal((await post(bob, { id: ids.annOnly, do: 'allow' })).status, 410);
      assert.deepEqual(await listsOf(state, 'bob@example.com'), { allow: [], block: [] });
      assert.deepEqual((await listsOf(state, 'ann@example.com')).block, ['@.example.org', 'king@spam.example', 'prize@lottery.example']);

      const removed = await post(ann, { do: 'remove', list: 'block', entry: 'king@spam.example' });
      assert.match(removed.body, /king@spam\.example is no longer on your block list\./);
      assert.deepEqual(await listsOf(state, 'ann@example.com'), { allow: [], block: ['@.example.org', 'prize@lottery.example'] });
      assert.equal((await post(ann, { do: 'add', list: 'nonsense', entry: 'a@b.example' })).status, 400);

      // Bob's allow list full: the button says so, and leaves the message held.
      for (let i = 0; i < MAX_ENTRIES; i++) await addEntry(state, 'allow', 'bob@example.com', `u${i}@filler.example`);
      const full = await post(bob, { id: ids.bobOnly, do: 'allow' });
      assert.equal(full.status, 409);
      assert.match(full.body, /Your allow list is full: remove some entries first\.<\/p>\n<p>The message was left as it is\./);
      assert.deepEqual(await held(ids.bobOnly), [['bob@example.com', 'pending']]);
      assert.ok(g.logs.some((l) => l.msg === 'recipient sender list changed' && String(l.to) === 'ann@example.com' && l.list === 'allow' && l.entry === 'prize@lottery.example'));

      // A tagged address's ticket edits the untagged address's lists: those the user-lists plugin reads for its mail.
      const tagged = signRecipientTicket(key, { address: 'ann+news@example.com', expires: Date.now() + 3_600_000 });
      const taggedPage = (await ask(port, ca, 'GET', '/quarantine/mine', { t: tagged })).body;
      assert.deepEqual(listed(taggedPage, 'block'), ['@.example.org', 'prize@lottery.example']);
      assert.match(taggedPage, /These are the lists of ann@example\.com: they apply to mail for every tagged form of that address, ann\+news@example\.com included\./);
      assert.equal((await post(tagged, { do: 'add', list: 'allow', entry: 'news@paper.example' })).status, 200);
      assert.deepEqual((await listsOf(state, 'ann@example.com')).allow, ['news@paper.example']);
      for (const t of [ann, bob, tagged]) assert.ok(g.logs.every((l) => !JSON.stringify(l).includes(t)), 'no ticket in the log');
    });

    it('offers no lists once the running config has no user-lists plugin to apply them', async () => {
      const ann = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
      const cfg = g.gateway.runtime.config;
      assert.equal(await g.gateway.reload({ ...cfg, plugins: cfg.plugins.filter((p) => p.name !== 'user-lists') }), true);
      const shown = await ask(port, ca, 'GET', '/quarantine/mine', { t: ann });
      assert.equal(shown.status, 200);
      assert.doesNotMatch(shown.body, /Allow list|Always allow|Always block/);
      assert.deepEqual(listedIds(shown.body).length, 2, 'the held mail is still listed');
      const refused = await ask(port, ca, 'POST', '/quarantine/mine', { t: ann, id: ids.annOnly, do: 'block' });
      assert.equal(refused.status, 404);
      assert.deepEqual(await listsOf(g.gateway.runtime.services.store, 'ann@example.com'), { allow: [], block: [] });
      assert.deepEqual(await held(ids.annOnly), [['ann@example.com', 'pending']]);
    });
  });
});
