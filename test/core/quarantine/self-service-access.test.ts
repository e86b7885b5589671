// Who may use the recipients' quarantine pages, and until when. They are public routes (a recipient's browser is
// anywhere, outside http.allow_from), served only while quarantine_digest.link_base is set: unsetting it turns every
// /quarantine/ page off at once, links already mailed included. And `moat quarantine revoke ADDRESS` ends every link
// issued for that address (or its mailbox) so far, leaving other recipients' links and later digests' working. With
// real parts: a gateway whose rule quarantines mail sent over SMTP, its digests through the control socket to a
// recording smarthost, HTTPS requests trusting only its certificate, and the `moat` command in a process of its own.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { ControlClient } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { loadTicketKey, signRecipientTicket, verifyTicket } from '../../../core/quarantine/ticket.ts';
import { REVOCATIONS_FILE } from '../../../core/quarantine/revocations.ts';
import { digestText, mineTicketOf, ticketOf } from './digest-text.ts';
import { askForm, request } from './https-form.ts';
import { holdMail } from './holding-gateway.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const LINK_BASE = 'https://mail.example.com/';

describe('the recipients\' quarantine pages: open to anyone with a link, while offered, until revoked', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  const ids: Record<string, string> = {};

  const send = (to: string, subject: string) => holdMail(g, to, subject);
  /** Each recipient's digest text, from the digests the smarthost has received so far. */
  async function digestsNow(n: number): Promise<Map<string, string>> {
    const mails = await g.sink.waitFor(n);
    return new Map(mails.map((m) => [m.rcptTo[0], digestText(m.raw)]));
  }
  const mine = (t: string) => askForm(port, ca, 'GET', '/quarantine/mine', { t });
  const statusOf = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.map((r) => r.status);
  const refusals = () => g.logs.filter((l) => l.msg === 'quarantine link refused');
  async function reloadWith(linkBase: string | undefined): Promise<void> {
    const cfg = g.gateway.runtime.config;
    assert.equal(await g.gateway.reload(await validateConfig({ ...cfg, quarantine_digest: { ...cfg.quarantine_digest, link_base: linkBase } })), true);
  }

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      // The test's client (loopback) is not an admin's: /metrics is closed to it, the recipient pages are not.
      http: { listen: ['127.0.0.1:0'], tls: true, allow_from: ['192.0.2.0/24'] },
      quarantine_digest: { link_base: LINK_BASE },
      plugins: [
        { name: 'user-lists' },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    ids.ann = await send('ann@example.com', 'hold-me: for ann');
    ids.shop = await send('ann+shop@example.com', 'hold-me: for ann+shop');
    ids.bob = await send('bob@example.com', 'hold-me: for bob');
    await new ControlClient(socketPath(g.dataDir)).digest({ all: true });
  });
  afterEach(() => g.stop());

  it('serves the pages to a client outside allow_from, and none of them once link_base is unset, until it is set again', async () => {
    const ann = (await digestsNow(2)).get('ann@example.com')!;
    const t = mineTicketOf(ann)!;
    const release = ticketOf(ann, 'release')!;
    assert.equal((await request(port, ca, 'GET', '/metrics')).status, 403, 'an admin route: allow_from only');
    assert.equal((await mine(t)).status, 200, 'a recipient page: open to the link\'s holder wherever they are');

    await reloadWith(undefined);
    const asked = [
      await mine(t),
      await askForm(port, ca, 'GET', '/quarantine/preview', { t, id: ids.ann }),
      await askForm(port, ca, 'GET', '/quarantine/release', { t: release }),
      await askForm(port, ca, 'POST', '/quarantine/release', { t: release }),
      await askForm(port, ca, 'POST', '/quarantine/mine', { t, do: 'delete', id: ids.ann }),
      await askForm(port, ca, 'POST', '/quarantine/mine', { t, do: 'add', list: 'allow', entry: 'friend@example.org' }),
    ];
    for (const a of asked) {
      assert.equal(a.status, 404);
      assert.match(a.body, /The quarantine pages are turned off on this gateway/);
    }
    assert.deepEqual(await statusOf(ids.ann), ['pending'], 'nothing done');
    assert.ok(refusals().some((l) => l.reason === 'quarantine pages turned off (quarantine_digest.link_base unset)' && l.path === '/quarantine/mine'));

    await reloadWith(LINK_BASE);
    const back = await mine(t);
    assert.equal(back.status, 200);
    assert.match(back.body, /hold-me: for ann\+shop/, 'with the user-lists plugin, ann+shop@ is ann@\'s mailbox');
  });

  it('moat quarantine revoke ends every link issued for the address so far, its tagged forms\' too; others\' and later ones work', async () => {
    const before = await digestsNow(2);
    const ann = before.get('ann@example.com')!;
    const bob = before.get('bob@example.com')!;
    const key = loadTicketKey(g.dataDir);
    const annMine = mineTicketOf(ann)!;
    const annRelease = ticketOf(ann, 'release')!;
    const released = (verifyTicket(key, annRelease) as { ticket: { id: string } }).ticket.id;
    const tagged = signRecipientTicket(key, { address: 'Ann+Shop@example.com', expires: Date.now() + 3_600_000, issued: Date.now() });
    // A ticket of the form mailed before issue times were signed: taken as older than any revocation.
    const unstamped = signRecipientTicket(key, { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    for (const t of [annMine, tagged, unstamped]) assert.equal((await mine(t)).status, 200);

    const { stdout } = await promisify(execFile)(process.execPath, [MOAT, 'quarantine', 'revoke', '--set', `data_dir=${g.dataDir}`, '<Ann@Example.com>'], { timeout: 20_000 });
    assert.match(stdout, /^quarantine links issued for ann@example\.com until \S+ no longer work/);
    assert.equal(statSync(path.join(g.dataDir, REVOCATIONS_FILE)).mode & 0o777, 0o600);

    for (const t of [annMine, tagged, unstamped]) {
      const page = await mine(t);
      assert.equal(page.status, 403);
      assert.match(page.body, /your administrator has withdrawn the quarantine links sent to you so far/);
    }
    assert.equal((await askForm(port, ca, 'GET', '/quarantine/preview', { t: annMine, id: ids.ann })).status, 403);
    assert.equal((await askForm(port, ca, 'POST', '/quarantine/release', { t: annRelease })).status, 403);
    assert.deepEqual(await statusOf(released), ['pending'], 'not released');
    assert.equal((await mine(mineTicketOf(bob)!)).status, 200, 'Bob\'s links are his own');

    const revoked = g.logs.filter((l) => l.msg === 'quarantine links revoked');
    assert.deepEqual(revoked.map((l) => l.to), [['ann@example.com']], 'logged once');
    assert.ok(refusals().filter((l) => l.reason === 'revoked').every((l) => !JSON.stringify(l).includes(annMine)), 'no ticket in the log');
    assert.ok(refusals().some((l) => l.reason === 'revoked' && l.qid === released && String(l.to) === 'ann@example.com'));

    // The next digest's links work.
    await new ControlClient(socketPath(g.dataDir)).digest({ all: true, to: 'ann@example.com' });
    const next = digestText((await g.sink.waitFor(3))[2].raw);
    assert.equal((await mine(mineTicketOf(next)!)).status, 200);
    const done = await askForm(port, ca, 'POST', '/quarantine/release', { t: ticketOf(next, 'release')! });
    assert.equal(done.redirect?.status, 303, done.body);
  });

  it('a revocations file that cannot be read refuses every link, logged as an error, until it can be', async () => {
    const bob = mineTicketOf((await digestsNow(2)).get('bob@example.com')!)!;
    const file = path.join(g.dataDir, REVOCATIONS_FILE);
    writeFileSync(file, '{"revoked": {"ann@example.com": ');
    const refused = await mine(bob);
    assert.equal(refused.status, 403, 'a revocation that cannot be read must not let its link back in');
    assert.ok(g.logs.some((l) => l.level === 'error' && l.msg === 'quarantine link revocations cannot be read: every quarantine link is refused until they can'));
    assert.ok(refusals().some((l) => l.reason === 'revocations unreadable'));
    rmSync(file);
    assert.equal((await mine(bob)).status, 200);
  });
});
