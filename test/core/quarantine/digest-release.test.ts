// The quarantine digest and per-recipient release end to end, with real parts: a gateway whose rule quarantines a
// message sent with nodemailer to two recipients, a recording smarthost, the digest queued through the gateway's own
// delivery queue by `moat quarantine digest`, and the links followed over the gateway's HTTPS listener.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { runDigest, startDigestSchedule, stopDigestSchedule, type DigestDeps } from '../../../core/quarantine/digest.ts';
import { readLastDigest } from '../../../core/quarantine/digest-state.ts';
import { digestConfigSchema, type DigestConfig } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { loadTicketKey, signTicket } from '../../../core/quarantine/ticket.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { until } from '../queue/send.ts';
import { digestText, ticketOf } from './digest-text.ts';
import { askForm } from './https-form.ts';

const SUBJECT = 'hold-me: Grüße vom Gewinnspiel';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

const follow = (port: number, ca: Buffer, method: 'GET' | 'POST', p: string, ticket: string) => askForm(port, ca, method, p, { t: ticket });

describe('quarantine digest and release for one recipient', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let digestConfig: DigestConfig;
  let deps: DigestDeps;
  let qid: string;
  let port: number;
  let ca: Buffer;

  const quarantined = () => readdirSync(path.join(g.dataDir, 'quarantine')).filter((f) => f.endsWith('.json'));
  const get = (p: string, ticket: string) => follow(port, ca, 'GET', p, ticket);
  const post = (p: string, ticket: string) => follow(port, ca, 'POST', p, ticket);

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    const rt = g.gateway.runtime;
    digestConfig = validate(digestConfigSchema, { link_base: 'https://mail.example.com/' }).value;
    deps = {
      dataDir: g.dataDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), config: () => digestConfig,
      hostname: () => 'mx.test.example', localDomains: () => ['example.com'],
    };
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    const info = await t.sendMail({ from: 'prize@lottery.example', to: ['ann@example.com', 'bob@example.com'], subject: SUBJECT, text: 'You won!' });
    t.close();
    qid = /queued as (\S+)/.exec(info.response)![1];
    assert.deepEqual(quarantined(), [`${qid}.json`]);
  });
  afterEach(() => g.stop());

  it('mails one digest per recipient; a POST over HTTPS releases to that recipient alone; GET, forged and expired tickets change nothing', async () => {
    // `moat quarantine digest`, through the running gateway's control socket and with its config.
    const { stdout } = await promisify(execFile)(process.execPath, [MOAT, 'quarantine', 'digest', '--set', `data_dir=${g.dataDir}`, '--json'], { timeout: 20_000 });
    const report = JSON.parse(stdout) as { via: string; digests: Array<{ to: string; messages: number; queueId?: string }> };
    assert.equal(report.via, 'gateway');
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages, !!d.queueId]).sort(), [['ann@example.com', 1, true], ['bob@example.com', 1, true]]);
    const digests = await g.sink.waitFor(2);
    assert.deepEqual(digests.map((m) => [m.mailFrom, m.rcptTo]).sort(), [['', ['ann@example.com']], ['', ['bob@example.com']]]);
    const annDigest = digests.find((m) => m.rcptTo[0] === 'ann@example.com')!;
    assert.match(annDigest.raw.toString('latin1'), /^Auto-Submitted: auto-generated\r$/m);
    assert.match(annDigest.raw.toString('latin1'), /^From: postmaster@/m);
    const text = digestText(annDigest.raw);
    assert.match(text, /Subject: hold-me: Grüße vom Gewinnspiel/, 'the subject decoded');
    assert.match(text, /From: {4}prize@lottery\.example/);
    // Held by a rule: its note says why, and no score of 0.0 pretends to.
    assert.match(text, /^Reason: {2}held for review\r$/m);
    assert.doesNotMatch(text, /Score:|score 0\.0/);
    assert.match(text, /Release: https:\/\/mail\.example\.com\/quarantine\/release\?t=/, 'link_base without its trailing slash');
    const ticket = ticketOf(text, 'release')!;
    assert.ok(ticket);
    // Each link's ticket is signed for its own action (ticket-action.test.ts: a Delete link passed on cannot release).
    assert.ok(ticketOf(text, 'delete'));
    assert.notEqual(ticketOf(text, 'delete'), ticket);
    assert.match(text, /^A message left in the quarantine is deleted 30 days after it was quarantined\.$/m, 'queue.quarantine_lifetime, told');
    const queuedLine = g.logs.find((l) => l.msg === 'quarantine digest queued' && String(l.to) === 'ann@example.com');
    assert.deepEqual(queuedLine?.listed, [qid], 'the digest names the messages it lists');

    // A link scanner's GET shows the page and releases nothing.
    const page = await get('/quarantine/release', ticket);
    assert.equal(page.status, 200);
    assert.match(page.body, /Grüße vom Gewinnspiel/);
    assert.match(page.body, /<form method="post"><input type="hidden" name="t" value="[A-Za-z0-9_.-]+">/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    // Forged (another recipient in a payload with the original signature) and expired tickets.
    const [, mac] = ticket.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ i: qid, a: 'bob@example.com', e: Date.now() + 3_600_000 })).toString('base64url');
    assert.equal((await post('/quarantine/release', `${forgedPayload}.${mac}`)).status, 403);
    const expired = signTicket(loadTicketKey(g.dataDir), { id: qid, address: 'ann@example.com', expires: Date.now() - 1 });
    const late = await post('/quarantine/release', expired);
    assert.equal(late.status, 403);
    assert.match(late.body, new RegExp(`expired\\. To get the message, ask your administrator to release it for you: its id is ${qid}\\.`));
    // Each refusal is logged with its reason and the client, never with the ticket.
    const refusals = g.logs.filter((l) => l.msg === 'quarantine link refused');
    assert.deepEqual(refusals.map((l) => [l.reason, l.qid ?? null, l.client]), [['bad signature', null, '127.0.0.1'], ['expired', qid, '127.0.0.1']]);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(g.sink.messages.length, 2, 'nothing delivered by a GET or a refused ticket');
    assert.ok(g.logs.every((l) => !JSON.stringify(l).includes(ticket)), 'no ticket in the log');

    const done = await post('/quarantine/release', ticket);
    assert.equal(done.status, 200, done.body);
    const [released] = (await g.sink.waitFor(3)).slice(2);
    assert.deepEqual(released.rcptTo, ['ann@example.com']);
    const raw = released.raw.toString('latin1');
    assert.match(raw, /^X-Mailmoat-Released: from quarantine by the recipient <ann@example\.com>; /m);
    assert.match(raw, /^X-Mailmoat-Verdict: quarantine;/m, 'stored as it was');
    assert.match(raw, /You won!/);
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === `${qid}r0`), 10_000, 'the copy delivered');
    // Bob's stays in the quarantine, Ann's is done there.
    const entry = await g.gateway.runtime.queue.load(qid, 'quarantine');
    assert.deepEqual(entry?.recipients.map((r) => [r.address, r.status]), [['ann@example.com', 'released'], ['bob@example.com', 'pending']]);
    // The same link again, and its confirmation page: gone for Ann.
    assert.equal((await post('/quarantine/release', ticket)).status, 410);
    assert.equal((await get('/quarantine/release', ticket)).status, 410);

    // The next digest lists only what arrived since; --all lists what is held: Bob's message only.
    assert.deepEqual((await runDigest(deps)).digests, []);
    const all = await runDigest(deps, { all: true, dryRun: true });
    assert.deepEqual(all.digests.map((d) => [d.to, d.listed?.map((m) => m.id)]), [['bob@example.com', [qid]]]);

    // Bob deletes it with his link: the message leaves the quarantine, nothing is delivered.
    const bobTicket = ticketOf(digestText(digests.find((m) => m.rcptTo[0] === 'bob@example.com')!.raw), 'delete')!;
    assert.equal((await post('/quarantine/delete', bobTicket)).status, 200);
    assert.deepEqual(quarantined(), []);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 3);
  });

  it('refuses the links over plain HTTP: the ticket would travel in clear', async () => {
    // Plain HTTP is allowed behind a proxy that terminates TLS; this request comes straight, not through it.
    const plain = await startRelayingGateway({ config: {
      domains: ['example.com'], http: { listen: ['127.0.0.1:0'], trusted_proxies: ['192.0.2.1'] }, quarantine_digest: { link_base: 'https://mail.example.com/' },
    } });
    try {
      const ticket = signTicket(loadTicketKey(plain.dataDir), { id: qid, address: 'ann@example.com', expires: Date.now() + 60_000 });
      const r = await fetch(`http://127.0.0.1:${plain.gateway.admin!.addresses[0].port}/quarantine/release`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ t: ticket }).toString(),
      });
      assert.equal(r.status, 403);
      assert.match(await r.text(), /over HTTPS only/);
    } finally { await plain.stop(); }
  });

  it('the schedule sends the first digest at once when enabled, then waits its interval', async () => {
    digestConfig = validate(digestConfigSchema, { interval: '1h' }).value;
    const off = startDigestSchedule(deps);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 0, 'not while disabled');
    await stopDigestSchedule(off);
    digestConfig = validate(digestConfigSchema, { enabled: true, interval: '1h' }).value;
    const on = startDigestSchedule(deps);
    try {
      await g.sink.waitFor(2);
      const last = readLastDigest(g.dataDir);
      assert.ok(last && Date.now() - last < 10_000, 'the time of the digest kept');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(g.sink.messages.length, 2, 'the next one waits for the interval');
    } finally { await stopDigestSchedule(on); }
  });

  it('without link_base the digest names the message id; moat queue release --recipient goes through the gateway', async () => {
    digestConfig = validate(digestConfigSchema, { from: 'quarantine@example.com' }).value;
    await runDigest(deps, { to: 'BOB@example.com' });
    const [digest] = await g.sink.waitFor(1);
    assert.deepEqual(digest.rcptTo, ['bob@example.com']);
    const text = digestText(digest.raw);
    assert.match(text, new RegExp(`Id: +${qid}`));
    assert.match(text, /ask your administrator/);
    assert.doesNotMatch(text, /quarantine\/release/);

    const r = await moatQueue(g.dataDir, 'release', qid, '--recipient', 'bob@example.com', '--json');
    assert.deepEqual(r.json, { results: { [qid]: 'done' }, via: 'gateway' }, r.stderr);
    const [, released] = await g.sink.waitFor(2);
    assert.deepEqual(released.rcptTo, ['bob@example.com']);
    assert.match(released.raw.toString('latin1'), /^X-Mailmoat-Released: from quarantine by the administrator for <bob@example\.com>; /m);
    const again = await moatQueue(g.dataDir, 'release', qid, '--recipient', 'bob@example.com');
    assert.equal(again.code, 1);
    assert.match(again.stdout, /not a recipient still held/);
    // Usage: --recipient is for release and delete of one id; delete --to keeps its domain meaning.
    assert.equal((await moatQueue(g.dataDir, 'hold', qid, '--recipient', 'bob@example.com')).code, 64);
    assert.equal((await moatQueue(g.dataDir, 'delete', qid, '--recipient', 'not-an-address')).code, 64);
    // The whole-message release now sends the one recipient still held, Ann, and not Bob again.
    const whole = await moatQueue(g.dataDir, 'release', qid, '--json');
    assert.deepEqual(whole.json.results, { [qid]: 'done' });
    const [, , third] = await g.sink.waitFor(3);
    assert.deepEqual(third.rcptTo, ['ann@example.com']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 3);
  });
});
