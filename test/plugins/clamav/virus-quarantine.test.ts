// A virus held in the quarantine (`action: quarantine`) is the administrator's to release, as in Proxmox Mail Gateway:
// a real clamd, a real gateway with the digest and the HTTPS quarantine pages, a recording smarthost.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startClamd, SIG_NAMES, type ClamdHandle } from '../../helpers/clamd.ts';
import { runDigest, type DigestDeps } from '../../../core/quarantine/digest.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { digestHtml, digestText, mineTicketOf, ticketOf } from '../../core/quarantine/digest-text.ts';
import { askForm } from '../../core/quarantine/https-form.ts';
import { moatQueue } from '../../core/queue/moat-queue.ts';
import { until } from '../../core/queue/send.ts';
import { cleanMessage, eicarInZip, sendOne } from './fixtures.ts';

describe('clamav: a quarantined virus is released by the administrator only', function () {
  this.timeout(60_000);
  let clamd: ClamdHandle;
  let g: RelayingGateway;
  let port: number;
  let ca: Buffer;
  let deps: DigestDeps;

  before(async () => { clamd = await startClamd(); });
  after(async () => { await clamd?.close(); });

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      // A score quarantine beside it, for a spam message the recipient may release.
      scores: { quarantine: 6, add_header: 3 },
      plugins: [
        { name: 'clamav', socket: clamd.socket, action: 'quarantine' },
        { name: 'user-lists' },
        { name: 'rules', rules: [{ name: 'spammy', when: { subject: '^spammy' }, actions: [{ score: 7 }] }] },
      ],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    const rt = g.gateway.runtime;
    const digestConfig = validate(digestConfigSchema, { link_base: 'https://mail.example.com/' }).value;
    deps = {
      dataDir: g.dataDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), config: () => digestConfig,
      hostname: () => 'mx.test.example', localDomains: () => ['example.com'],
    };
  });
  afterEach(() => g?.stop());

  const held = async (subject: string, message: string): Promise<string> => {
    const r = await sendOne(g.port, message);
    assert.equal(r.code, 250, `${subject}: ${r.text}`);
    return /queued as (\S+)/.exec(r.text)![1];
  };

  it('lists the virus with its name and no Release link, refuses every recipient release, and lets the admin release it', async () => {
    const virusId = await held('virus', eicarInZip('virus-in-zip'));
    const spamId = await held('spam', cleanMessage('spammy offer'));
    const entry = await g.gateway.runtime.queue.load(virusId, 'quarantine');
    assert.equal(entry?.recipientMayRelease, false, 'stored on the entry');
    assert.equal((await g.gateway.runtime.queue.load(spamId, 'quarantine'))?.recipientMayRelease, undefined);

    // The digest says why each is held: a virus name, a spam score; no Release link for the virus.
    const report = await runDigest(deps);
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages]), [['rcpt@example.com', 2]]);
    const [digest] = await g.sink.waitFor(1);
    const text = digestText(digest.raw);
    // Newest first: the spam message was held after the virus.
    const [spamPart, virusPart] = text.split(/\r\n\r\n(?=Date: )/).slice(1);
    assert.match(virusPart, new RegExp(`^Reason: {2}virus ${SIG_NAMES.eicarHash.replace(/\./g, '\\.')}\\r$`, 'm'));
    assert.match(virusPart, /only your administrator can release this message/);
    assert.doesNotMatch(virusPart, /Release: https/);
    assert.match(virusPart, /Delete: {2}https:/);
    assert.match(spamPart, /^Reason: {2}spam score 7\.0\r$/m);
    assert.match(spamPart, /Release: https:/);
    assert.doesNotMatch(text, /taken for spam/);
    const html = digestHtml(digest.raw);
    assert.equal((html.match(/>Release</g) ?? []).length, 1, 'one Release link in the HTML part: the spam message\'s');

    // A release ticket made for the virus anyway (an old digest, a hand-made link): refused, logged, nothing sent.
    const key = loadTicketKey(g.dataDir);
    const ticket = signTicket(key, { id: virusId, address: 'rcpt@example.com', expires: Date.now() + 3_600_000, action: 'release' });
    const page = await askForm(port, ca, 'GET', '/quarantine/release', { t: ticket });
    assert.equal(page.status, 403, page.body);
    assert.match(page.body, /only your administrator can release this message/);
    const post = await askForm(port, ca, 'POST', '/quarantine/release', { t: ticket });
    assert.equal(post.status, 403, post.body);
    const refusals = g.logs.filter((l) => l.msg === 'quarantine release refused: only an administrator may release this message');
    assert.equal(refusals.length, 2);
    assert.equal(refusals[0].qid, virusId);
    assert.equal(refusals[0].held_for, `virus ${SIG_NAMES.eicarHash}`);

    // The recipient's page: the virus shows why, with Delete alone; a Release or Always allow posted by hand is refused.
    const mine = mineTicketOf(text)!;
    const view = await askForm(port, ca, 'GET', '/quarantine/mine', { t: mine });
    assert.equal(view.status, 200);
    const virusRow = view.body.split('<tr>').find((row) => row.includes(`value="${virusId}"`))!;
    assert.match(virusRow, /only your administrator can release this message/);
    assert.doesNotMatch(virusRow, /name="do" value="(release|allow)"/);
    assert.match(view.body.split('<tr>').find((row) => row.includes(`value="${spamId}"`))!, /name="do" value="release"/);
    for (const verb of ['release', 'allow']) {
      const r = await askForm(port, ca, 'POST', '/quarantine/mine', { t: mine, do: verb, id: virusId });
      assert.equal(r.status, 403, `${verb}: ${r.body}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 1, 'only the digest was delivered');
    assert.equal((await g.gateway.runtime.queue.load(virusId, 'quarantine'))?.recipients[0].status, 'pending', 'still held');

    // The spam message is the recipient's to release, as before.
    const spamTicket = signRecipientTicket(key, { address: 'rcpt@example.com', expires: Date.now() + 3_600_000 });
    assert.equal((await askForm(port, ca, 'POST', '/quarantine/mine', { t: spamTicket, do: 'release', id: spamId })).status, 200);
    await g.sink.waitFor(2);

    // The administrator's release still works.
    const admin = await moatQueue(g.dataDir, 'release', virusId);
    assert.equal(admin.code, 0, admin.stderr);
    await until(() => g.sink.messages.length >= 3, 10_000, 'the virus released by the administrator');
    assert.ok(ticketOf(text, 'delete'));
  });

  it('counts viruses found by symbol in /metrics', async () => {
    await held('virus', eicarInZip('virus-counted'));
    const values = g.gateway.runtime.metrics.snapshot();
    assert.equal(values.findings_CLAM_VIRUS, 1);
    assert.match(g.gateway.runtime.metrics.prometheus(), /^mailmoat_findings_total\{symbol="CLAM_VIRUS"\} 1$/m);
  });
});
