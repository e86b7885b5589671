// A digest's Release and Delete links carry tickets signed for their own action: a Delete link passed on to someone
// cannot release the message, nor a Release link delete it. Tickets mailed before the action was signed name none and
// keep working for both until they expire. The unit part checks the format; the rest asks a real gateway over HTTPS.
import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { loadTicketKey, signTicket, ticketAllows, verifyTicket } from '../../../core/quarantine/ticket.ts';
import { messageLinks } from '../../../core/quarantine/digest-mail.ts';
import { askForm } from './https-form.ts';

const ticketIn = (link: string) => new URL(link).searchParams.get('t')!;

describe('quarantine tickets name their action', () => {
  const key = createSecretKey(randomBytes(32));
  const base = { id: 'mabc1234500ab12cd34', address: 'ann@example.com', expires: Date.now() + 7 * 86_400_000 };

  it('the digest\'s two links of a message carry two tickets, each signed for its own action', () => {
    const links = messageLinks(key, 'https://mail.example.com', base);
    assert.match(links.release, /^https:\/\/mail\.example\.com\/quarantine\/release\?t=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.match(links.delete, /^https:\/\/mail\.example\.com\/quarantine\/delete\?t=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.notEqual(ticketIn(links.release), ticketIn(links.delete));
    assert.deepEqual(verifyTicket(key, ticketIn(links.release)), { ok: true, ticket: { ...base, action: 'release' } });
    assert.deepEqual(verifyTicket(key, ticketIn(links.delete)), { ok: true, ticket: { ...base, action: 'delete' } });
  });

  it('the action cannot be changed or dropped without the key; an unknown one is malformed', () => {
    const [, mac] = signTicket(key, { ...base, action: 'delete' }).split('.');
    for (const fields of [{ i: base.id, a: base.address, e: base.expires, x: 'release' }, { i: base.id, a: base.address, e: base.expires }]) {
      const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
      assert.deepEqual(verifyTicket(key, `${payload}.${mac}`), { ok: false, reason: 'bad signature' }, JSON.stringify(fields));
    }
    const odd = Buffer.from(JSON.stringify({ i: base.id, a: base.address, e: base.expires, x: 'forward' })).toString('base64url');
    assert.deepEqual(verifyTicket(key, `${odd}.${createHmac('sha256', key).update(odd).digest('base64url')}`), { ok: false, reason: 'malformed' });
  });

  it('a ticket allows its own action only; one of the old form, naming none, allows both', () => {
    const release = { ...base, action: 'release' as const };
    const del = { ...base, action: 'delete' as const };
    assert.deepEqual([ticketAllows(release, 'release'), ticketAllows(release, 'delete')], [true, false]);
    assert.deepEqual([ticketAllows(del, 'release'), ticketAllows(del, 'delete')], [false, true]);
    const old = verifyTicket(key, signTicket(key, base));
    assert.ok(old.ok);
    assert.equal(old.ticket.action, undefined);
    assert.deepEqual([ticketAllows(old.ticket, 'release'), ticketAllows(old.ticket, 'delete')], [true, true]);
  });
});

describe('the release and delete links accept only a ticket of their own action', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;

  async function hold(subject: string): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from: 'prize@lottery.example', to: 'ann@example.com', subject, text: 'You won!' });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally { t.close(); }
  }
  const links = (id: string) => messageLinks(loadTicketKey(g.dataDir), 'https://mail.example.com', { id, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
  const ask = (method: 'GET' | 'POST', action: string, t: string) => askForm(port, ca, method, `/quarantine/${action}`, { t });
  const stillHeld = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.map((r) => r.status);

  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
  });
  after(() => g?.stop());

  it('a forwarded Delete link cannot release the message, nor a Release link delete it; each does its own', async () => {
    const id = await hold('hold-me: forwarded');
    const l = links(id);
    const del = ticketIn(l.delete);
    const rel = ticketIn(l.release);
    for (const method of ['GET', 'POST'] as const) {
      const wrongRelease = await ask(method, 'release', del);
      assert.equal(wrongRelease.status, 403, `${method} release with the Delete link's ticket`);
      assert.match(wrongRelease.body, /This link is for deleting the message, not for releasing it\. Use the Release link/);
      const wrongDelete = await ask(method, 'delete', rel);
      assert.equal(wrongDelete.status, 403, `${method} delete with the Release link's ticket`);
      assert.match(wrongDelete.body, /This link is for releasing the message, not for deleting it\. Use the Delete link/);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await stillHeld(id), ['pending'], 'still held for Ann');
    assert.equal(g.sink.messages.length, 0, 'nothing delivered');
    const refusals = g.logs.filter((l) => l.msg === 'quarantine link refused');
    assert.deepEqual(refusals.map((l) => [l.reason, l.qid]), [
      ['a delete link used to release', id], ['a release link used to delete', id], ['a delete link used to release', id], ['a release link used to delete', id],
    ]);
    assert.ok(g.logs.every((l) => !JSON.stringify(l).includes(del) && !JSON.stringify(l).includes(rel)), 'no ticket in the log');

    // Each link on its own page: the confirmation, then the deed.
    assert.equal((await ask('GET', 'release', rel)).status, 200);
    const released = await ask('POST', 'release', rel);
    assert.equal(released.redirect?.status, 303);
    assert.match(released.body, /<h1>Released<\/h1>/);
    const [copy] = await g.sink.waitFor(1);
    assert.deepEqual(copy.rcptTo, ['ann@example.com']);

    const other = await hold('hold-me: deleted');
    const deleted = await ask('POST', 'delete', ticketIn(links(other).delete));
    assert.match(deleted.body, /<h1>Deleted<\/h1>/);
    assert.equal(await stillHeld(other), undefined, 'out of the quarantine');
  });

  it('a ticket mailed before actions were signed still works for both until it expires', async () => {
    const key = loadTicketKey(g.dataDir);
    const forRelease = await hold('hold-me: old digest, release');
    const oldRelease = signTicket(key, { id: forRelease, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    assert.equal((await ask('GET', 'delete', oldRelease)).status, 200, 'the Delete page too, as before');
    const released = await ask('POST', 'release', oldRelease);
    assert.match(released.body, /<h1>Released<\/h1>/);

    const forDelete = await hold('hold-me: old digest, delete');
    const oldDelete = signTicket(key, { id: forDelete, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    assert.match((await ask('POST', 'delete', oldDelete)).body, /<h1>Deleted<\/h1>/);
    assert.equal(await stillHeld(forDelete), undefined);

    const expired = signTicket(key, { id: forDelete, address: 'ann@example.com', expires: Date.now() - 1 });
    const late = await ask('POST', 'release', expired);
    assert.equal(late.status, 403);
    assert.match(late.body, /This link has expired/);
  });
});
