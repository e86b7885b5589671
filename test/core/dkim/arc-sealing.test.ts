// ARC sealing through a real gateway (core/dkim/arc-seal.ts): the spf and dmarc plugins judge inbound mail against a
// loopback DNS server that also publishes the sealer's key, a rule tags the Subject, and the relayed copy carries an
// ARC set of the gateway's results that mailauth's own authenticate() validates as arc=pass, though the sender's DKIM
// signature broke. A message with a valid chain gets i=2; a failing chain cv=fail, after which the chain has ended; a
// disclaimer and a 7-bit downgrade are sealed as they leave, as is a message of header fields only; a retry after a
// 4xx sends the same bytes; mail from relay.networks is not sealed; a gateway without the dmarc plugin says so at
// start and leaves mail unsealed, said once and counted.
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { authenticate } from 'mailauth';
import { SMTPServer } from 'smtp-server';
import type { Zones } from '../../helpers/dns-server.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { makeKey, message, seal, sign } from '../../plugins/dmarc/mail-fixtures.ts';
import { openSession, startAuthGateway, type AuthGateway } from '../../plugins/spf/e2e-setup.ts';
import { keyDir, newKey, type KeyDir } from './dkim-setup.ts';

const GOOD = { ip: '203.0.113.5', helo: 'mail.good.test' };
const FORWARDER = { ip: '198.51.100.7', helo: 'mail.fwd.test' };

/** A next hop that answers the first DATA with 451 and takes the next, keeping the bytes of each attempt. */
async function startRefusingOnce(): Promise<{ port: number; attempts: Buffer[]; stop(): Promise<void> }> {
  const attempts: Buffer[] = [];
  const server = new SMTPServer({
    name: 'inside.test', authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        attempts.push(Buffer.concat(chunks));
        if (attempts.length > 1) return cb();
        cb(Object.assign(new Error('4.3.0 not now'), { responseCode: 451 }));
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, attempts, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The ARC fields at the top of `raw`, each unfolded. */
const arcFields = (raw: string) => raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ').split('\r\n').filter((l) => /^ARC-/i.test(l));

describe('ARC sealing of judged inbound mail (core/dkim/arc-seal.ts)', function () {
  this.timeout(60_000);
  const sender = makeKey();
  const forwarder = makeKey();
  let keys: KeyDir;
  let sealer: { file: string; record: string };
  let next: Awaited<ReturnType<typeof startRefusingOnce>>;
  let sevenBit: Smarthost;
  let bed: AuthGateway;
  let receiverDns: Resolver;

  const zones = (): Zones => ({
    'good.test': {
      '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] },
      '_dmarc': { TXT: ['v=DMARC1; p=reject'] },
      'sel._domainkey': { TXT: [sender.dnsRecord] },
    },
    'fwd.test': { '@': { TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] }, 'fwd._domainkey': { TXT: [forwarder.dnsRecord] } },
    'receiver.test': { 'arc1._domainkey': { TXT: [sealer.record] } },
  });
  const arcConfig = () => ({ domain: 'receiver.test', selector: 'arc1', key_file: sealer.file });

  before(async () => {
    keys = keyDir();
    sealer = newKey(keys.dir, 'arc1.key');
    next = await startRefusingOnce();
    sevenBit = await startSmarthost({ hide: ['8BITMIME'] });
    bed = await startAuthGateway(zones(), [
      { name: 'spf' },
      { name: 'dmarc' },
      { name: 'rules', rules: [
        { name: 'external', when: { subject: 'tagged' }, actions: [{ tag_subject: '[EXT]' }] },
        { name: 'notice', when: { subject: 'disclaimed' }, actions: [{ disclaimer: 'Checked by the gateway.' }] },
      ] },
    ], {
      domains: ['receiver.test', 'retry.test', 'old.test'],
      routes: { 'retry.test': { via: `smtp://127.0.0.1:${next.port}` }, 'old.test': { via: `smtp://127.0.0.1:${sevenBit.port}` } },
      relay: { networks: ['192.0.2.0/24'] },
      dkim: { arc: arcConfig() },
    });
    receiverDns = new Resolver({ timeout: 2000, tries: 1 });
    receiverDns.setServers([bed.dns.address]);
  });

  after(async () => {
    await bed?.stop();
    await next?.stop();
    await sevenBit?.stop();
    keys?.remove();
  });

  const logs = () => bed.gw.logs;
  const metrics = () => bed.gw.gateway.runtime.metrics.snapshot();

  /** One inbound transaction from `client` (XCLIENT from the trusted loopback); the queue id. */
  async function send(client: { ip: string; helo: string }, mailFrom: string, to: string, raw: Buffer | string): Promise<string> {
    const c = await openSession(bed.gw.port, client.ip, client.helo);
    try {
      assert.equal((await c.cmd(`MAIL FROM:<${mailFrom}>`)).code, 250);
      assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250);
      const r = await c.data(raw);
      assert.equal(r.code, 250, r.text);
      return /queued as (\S+)/.exec(r.text)![1];
    } finally {
      await c.quit();
    }
  }

  /** What the mailbox behind the gateway makes of `raw` with mailauth, its DNS the loopback server's. */
  async function atMailbox(raw: string) {
    const result = await authenticate(Buffer.from(raw, 'latin1'), {
      ip: '192.0.2.25', helo: 'mx.receiver.test', sender: 'a@good.test', mta: 'mailbox.inside.test', disableBimi: true,
      resolver: ((name: string, type: string) => receiverDns.resolve(name, type as 'TXT')) as never,
    });
    assert.ok(result.arc, 'mailauth checked ARC');
    return { arc: result.arc, dkim: result.dkim };
  }

  it('seals inbound mail with i=1 and the gateway\'s results; the mailbox validates arc=pass though the Subject tag broke the sender\'s DKIM', async () => {
    const sealedBefore = metrics().arc_sealed as number;
    const raw = await sign(message({ from: 'a@good.test', subject: 'tagged plain' }), 'good.test', 'sel', sender);
    const qid = await send(GOOD, 'a@good.test', 'bob@receiver.test', raw);
    const relayed = await bed.relayed('tagged plain');
    assert.match(relayed, /^Subject: \[EXT\] tagged plain/m);
    assert.match(relayed, /^ARC-Seal: i=1; /, 'the set goes on top');
    const [as, ams, aar] = arcFields(relayed);
    assert.match(as, /^ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=receiver\.test; s=arc1; b=/);
    assert.match(ams, /^ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed\/relaxed; d=receiver\.test; .*h=[^;]*Subject/);
    assert.match(aar, /^ARC-Authentication-Results: i=1; mx\.receiver\.test; spf=pass smtp\.mailfrom=a@good\.test; dkim=pass header\.i=@good\.test .*; dmarc=pass .*header\.from=good\.test; arc=none$/);

    const result = await atMailbox(relayed);
    assert.equal(result.arc.status.result, 'pass', JSON.stringify(result.arc.status));
    assert.equal(result.arc.i, 1);
    const senderSignature = result.dkim.results.find((r) => r.signingDomain === 'good.test');
    assert.equal(senderSignature?.status.result, 'fail', 'the tag broke the sender\'s own signature');

    const line = await waitFor('the ARC-sealed line', () => logs().find((l) => l.msg === 'ARC-sealed' && l.qid === qid));
    assert.deepEqual([line.arc, line.i, line.cv, line.to], ['receiver.test/arc1', 1, 'none', ['bob@receiver.test']]);
    assert.equal(metrics().arc_sealed, sealedBefore + 1);
  });

  it('a message with a valid i=1 chain from a forwarder gets i=2 cv=pass, and the chain validates at the mailbox', async () => {
    const signed = await sign(message({ from: 'a@good.test', subject: 'forwarded once' }), 'good.test', 'sel', sender);
    const forwarded = await seal(signed, 'fwd.test', 'fwd', forwarder, 'fwd.test; spf=pass smtp.mailfrom=a@good.test; dkim=pass header.i=@good.test');
    await send(FORWARDER, 'list@fwd.test', 'bob@receiver.test', forwarded);
    const relayed = await bed.relayed('forwarded once');
    const [as, , aar] = arcFields(relayed);
    assert.match(as, /^ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=pass; d=receiver\.test; s=arc1; /);
    assert.match(aar, /^ARC-Authentication-Results: i=2; mx\.receiver\.test; .*; arc=pass \(i=1 /);
    const result = await atMailbox(relayed);
    assert.equal(result.arc.status.result, 'pass', JSON.stringify(result.arc.status));
    assert.equal(result.arc.i, 2);
  });

  it('a chain that failed at the gateway gets i=2 cv=fail; sent through again, the ended chain gets no i=3, said and counted', async () => {
    const signed = await sign(message({ from: 'a@good.test', subject: 'forwarded broken' }), 'good.test', 'sel', sender);
    const sealedByForwarder = await seal(signed, 'fwd.test', 'fwd', forwarder, 'fwd.test; spf=pass smtp.mailfrom=a@good.test');
    // Changed after the forwarder sealed it: its ARC-Message-Signature no longer verifies.
    const broken = Buffer.from(sealedByForwarder.toString('latin1').replace('in spirit', 'in cash'), 'latin1');
    await send(FORWARDER, 'list@fwd.test', 'bob@receiver.test', broken);
    const relayed = await bed.relayed('forwarded broken');
    const [as, , aar] = arcFields(relayed);
    assert.match(as, /^ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=fail; d=receiver\.test; /);
    assert.match(aar, /; arc=fail /);
    assert.equal((await atMailbox(relayed)).arc.status.result, 'fail');

    const endedBefore = (metrics().arc_unsealed_by_reason as Record<string, number>).chain_ended;
    const qid = await send(FORWARDER, 'list@fwd.test', 'bob@receiver.test', relayed.replace('Subject: forwarded broken', 'Subject: forwarded again'));
    const again = await bed.relayed('forwarded again');
    assert.deepEqual(arcFields(again).map((f) => f.slice(0, f.indexOf(';'))).sort(), ['ARC-Authentication-Results: i=1', 'ARC-Authentication-Results: i=2', 'ARC-Message-Signature: i=1', 'ARC-Message-Signature: i=2', 'ARC-Seal: i=1', 'ARC-Seal: i=2']);
    const said = await waitFor('the reason', () => logs().find((l) => l.msg === 'not ARC-sealed' && l.qid === qid));
    assert.equal(said.reason, 'chain_ended');
    assert.equal((metrics().arc_unsealed_by_reason as Record<string, number>).chain_ended, endedBefore + 1);
  });

  it('seals the bytes that leave: a disclaimer added to an 8-bit body, downgraded to 7-bit for a next hop without 8BITMIME', async () => {
    const body = 'Grüße aus Köln.\r\nBis bald.\r\n';
    const raw = await sign(message({ from: 'a@good.test', subject: 'disclaimed eight bit', body }), 'good.test', 'sel', sender);
    await send(GOOD, 'a@good.test', 'bob@old.test', raw);
    const relayed = await sevenBit.waitForText('disclaimed eight bit');
    assert.ok(Buffer.from(relayed, 'latin1').every((b) => b < 0x80), 'no 8-bit octet reached a next hop without 8BITMIME');
    assert.match(relayed, /Checked by the gateway\./);
    assert.equal(arcFields(relayed).length, 3);
    const result = await atMailbox(relayed);
    assert.equal(result.arc.status.result, 'pass', JSON.stringify(result.arc.status));
    assert.notEqual(result.dkim.results.find((r) => r.signingDomain === 'good.test')?.status.result, 'pass', 'the disclaimer broke the sender\'s body hash');
  });

  it('a message of header fields only, with no empty line, leaves with one and a seal that validates', async () => {
    await send(GOOD, 'a@good.test', 'bob@receiver.test', 'From: a@good.test\r\nTo: bob@receiver.test\r\nSubject: header only sealed\r\n');
    const relayed = await bed.relayed('header only sealed');
    assert.ok(relayed.endsWith('Subject: header only sealed\r\n\r\n'), JSON.stringify(relayed.slice(-60)));
    assert.equal(arcFields(relayed).length, 3);
    assert.equal((await atMailbox(relayed)).arc.status.result, 'pass');
  });

  it('a retry after a 451 from the next hop carries the very same seal, and the same bytes', async () => {
    const raw = await sign(message({ from: 'a@good.test', subject: 'tagged retried' }), 'good.test', 'sel', sender);
    const qid = await send(GOOD, 'a@good.test', 'bob@retry.test', raw);
    await waitFor('the second attempt', () => (next.attempts.length === 2 ? true : undefined), 20_000);
    const [first, second] = next.attempts.map((b) => b.toString('latin1'));
    assert.equal(arcFields(first).length, 3);
    assert.deepEqual(arcFields(second), arcFields(first));
    assert.equal(second, first);
    assert.equal((await atMailbox(second)).arc.status.result, 'pass');
    const sealedLines = await waitFor('the departure', () => { const l = logs().filter((x) => x.msg === 'ARC-sealed' && x.qid === qid); return l.length ? l : undefined; });
    assert.equal(sealedLines.length, 1, 'the refused attempt did not leave');
  });

  it('does not seal mail from relay.networks (seal_for: [inbound] by default), nor count it', async () => {
    const before = metrics();
    const d = await SmtpDialog.connect(bed.gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '192.0.2.7' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<printer@receiver.test>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
      assert.equal((await d.data(message({ from: 'printer@receiver.test', subject: 'from the printer' }))).code, 250);
    } finally {
      await d.quit();
    }
    const relayed = await bed.relayed('from the printer');
    assert.deepEqual(arcFields(relayed), []);
    assert.equal(metrics().arc_sealed, before.arc_sealed);
    assert.deepEqual(metrics().arc_unsealed_by_reason, before.arc_unsealed_by_reason);
  });

  describe('without the dmarc plugin', () => {
    let bare: AuthGateway;
    before(async () => { bare = await startAuthGateway(zones(), [{ name: 'spf' }], { dkim: { arc: arcConfig() } }); });
    after(async () => { await bare?.stop(); });

    it('warns at start, and leaves inbound mail unsealed, said once with the reason and counted as no_auth_results', async () => {
      assert.ok(bare.gw.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('dkim.arc: the dmarc plugin is not in plugins')), 'the start says what is missing');
      const raw = await sign(message({ from: 'a@good.test', subject: 'nothing to seal' }), 'good.test', 'sel', sender);
      const c = await openSession(bare.gw.port, GOOD.ip, GOOD.helo);
      let qid: string;
      try {
        assert.equal((await c.cmd('MAIL FROM:<a@good.test>')).code, 250);
        assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
        assert.equal((await c.cmd('RCPT TO:<carol@receiver.test>')).code, 250);
        const r = await c.data(raw);
        qid = /queued as (\S+)/.exec(r.text)![1];
      } finally {
        await c.quit();
      }
      assert.deepEqual(arcFields(await bare.relayed('nothing to seal')), []);
      const said = await waitFor('the reason', () => bare.gw.logs.find((l) => l.msg === 'not ARC-sealed' && l.qid === qid));
      assert.equal(said.level, 'warn');
      assert.equal(said.reason, 'no_auth_results');
      assert.equal(bare.gw.logs.filter((l) => l.msg === 'not ARC-sealed').length, 1);
      assert.equal((bare.gw.gateway.runtime.metrics.snapshot().arc_unsealed_by_reason as Record<string, number>).no_auth_results, 1);
    });
  });
});
