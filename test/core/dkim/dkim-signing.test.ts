// DKIM signing through a real gateway: a user's mail is signed as it leaves and verifies at the receiving sink (its
// key served by a real loopback DNS server), also when the next hop lacks 8BITMIME and the relay downgrades the body,
// and when the verdict, a plugin and the Subject tag changed the header; inbound mail and other From domains are not.
// A message that carries a signature with our d= and s= already (broken since, or made up) is signed again, ours on top.
// This file is also the plugin that scores a marked message as spam and adds a header field of its own.
import assert from 'node:assert/strict';
import path from 'node:path';
import { definePlugin, s } from '../../../core/index.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import type { DnsTestServer } from '../../helpers/dns-server.ts';
import { keyDir, newKey, publish, sendAsAlice as sendAs, verify, type KeyDir } from './dkim-setup.ts';

export default definePlugin({
  name: 'dkim-probe',
  description: 'Test double: a spam finding and a header field for a message marked X-Probe: spam',
  configSchema: s.object({}),
  symbols: { PROBE_SPAM: 'marked as spam' },
  create: () => ({
    hooks: {
      data: (ctx) => {
        if (ctx.message?.headers.first('X-Probe') !== 'spam') return;
        ctx.addFinding('PROBE_SPAM', 6);
        ctx.addHeader('X-Probe-Rule', 'matched');
      },
    },
  }),
});

describe('DKIM signing (core/dkim)', function () {
  this.timeout(60_000);
  let keys: KeyDir;
  let dns: DnsTestServer;
  let sink: Smarthost;
  let oldSink: Smarthost;
  let gw: TestGateway;

  before(async () => {
    keys = keyDir();
    const key = newKey(keys.dir, 'example.com.s1.key');
    dns = await publish('example.com', { s1: key.record });
    sink = await startSmarthost();
    oldSink = await startSmarthost({ hide: ['8BITMIME'] });
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        routes: { 'old.test': { via: `smtp://127.0.0.1:${oldSink.port}` } },
        relay: { networks: ['192.0.2.0/24'] },
        scores: { subject_tag: '[SPAM]' },
        plugins: [{ name: 'dkim-probe', module: import.meta.filename }],
        dkim: { domains: { 'example.com': { selector: 's1', key_file: key.file } } },
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  });

  after(async () => {
    await gw?.stop();
    await sink?.stop();
    await oldSink?.stop();
    await dns?.stop();
    keys?.remove();
  });

  const sendAsAlice = (from: string, to: string, subject: string, extra: { body?: string; headers?: Record<string, string> } = {}) =>
    sendAs(gw.port, { from, to: [to], subject, ...extra });

  /** A message from a client without a login at `addr` (XCLIENT from the trusted loopback). Returns its queue id. */
  async function sendWithoutLogin(addr: string, mailFrom: string, from: string, to: string, subject: string): Promise<string> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr } })).code, 250);
      assert.equal((await d.cmd(`MAIL FROM:<${mailFrom}>`)).code, 250);
      assert.equal((await d.cmd(`RCPT TO:<${to}>`)).code, 250);
      const r = await d.data(testMessage({ from, to, subject }));
      assert.equal(r.code, 250, r.text);
      return /queued as (\S+)/.exec(r.text)![1];
    } finally {
      await d.quit();
    }
  }

  const received = async (at: Smarthost, subject: string) => Buffer.from(await at.waitForText(subject), 'latin1');
  const messageLine = (qid: string) => gw.logs.find((l) => l.msg === 'message' && l.qid === qid);

  it("signs an authenticated user's mail, and the receiver's check passes", async () => {
    const qid = await sendAsAlice('Alice <alice@example.com>', 'friend@far.test', 'plain signed');
    const raw = await received(sink, 'plain signed');
    assert.match(raw.toString('latin1'), /^DKIM-Signature: /);
    assert.deepEqual(await verify(raw, dns), [{ domain: 'example.com', selector: 's1', result: 'pass', comment: undefined }]);
    assert.equal(messageLine(qid)?.dkim, 'example.com/s1');
    const h = raw.toString('latin1').slice(0, raw.indexOf('\r\n\r\n'));
    assert.match(h.replace(/\r\n[ \t]+/g, " "), /h=From: ?From:/, `From is oversigned: ${h}`);
  });

  it('an 8-bit body and a line over 998 octets, to a next hop without 8BITMIME, still verify as received', async () => {
    const body = `Grüße aus Köln, ça va très bien.\r\n${'x'.repeat(1500)}\r\nEnde.\r\n`;
    await sendAsAlice('alice@example.com', 'friend@old.test', 'eight bit signed', {
      body, headers: { 'MIME-Version': '1.0', 'Content-Type': 'text/plain; charset=utf-8', 'Content-Transfer-Encoding': '8bit' },
    });
    const raw = await received(oldSink, 'eight bit signed');
    const text = raw.toString('latin1');
    // The relay did change the body: it went as 7-bit MIME, with no line over SMTP's limit.
    assert.ok(raw.every((b) => b < 0x80), 'no 8-bit octet reached a next hop without 8BITMIME');
    assert.match(text, /Content-Transfer-Encoding: quoted-printable/i);
    assert.deepEqual((await verify(raw, dns)).map((v) => v.result), ['pass']);
  });

  it('a 7-bit line over 998 octets, broken by the relay as it writes it, still verifies as received', async () => {
    await sendAsAlice('alice@example.com', 'friend@far.test', 'long line signed', { body: `Start.\r\n${'y'.repeat(2500)}\r\nEnd.\r\n` });
    const raw = await received(sink, 'long line signed');
    assert.ok(raw.toString('latin1').split('\r\n').every((l) => l.length <= 998), 'every line within SMTP\'s limit');
    assert.match(raw.toString('latin1'), /y\r\n y/, 'the long line was broken');
    assert.deepEqual((await verify(raw, dns)).map((v) => v.result), ['pass']);
  });

  it("covers the verdict's fields, a plugin's field and the Subject tag", async () => {
    const qid = await sendAsAlice('alice@example.com', 'bob@example.com', 'tagged signed', { headers: { 'X-Probe': 'spam' } });
    const raw = await received(sink, 'tagged signed');
    const text = raw.toString('latin1');
    assert.match(text, /^Subject: \[SPAM\] tagged signed/m);
    assert.match(text, /^X-Mailmoat-Spam: Yes/m);
    assert.match(text, /^X-Probe-Rule: matched/m);
    assert.deepEqual((await verify(raw, dns)).map((v) => v.result), ['pass']);
    assert.equal(messageLine(qid)?.dkim, 'example.com/s1');
  });

  it('signs mail from relay.networks, as headers.outbound_without_verdict counts it', async () => {
    await sendWithoutLogin('192.0.2.7', 'printer@example.com', 'printer@example.com', 'friend@far.test', 'relay network signed');
    assert.deepEqual((await verify(await received(sink, 'relay network signed'), dns)).map((v) => v.result), ['pass']);
  });

  it('does not sign inbound mail from outside, even with a From at a signing domain', async () => {
    const qid = await sendWithoutLogin('203.0.113.9', 'forger@elsewhere.test', 'alice@example.com', 'bob@example.com', 'inbound unsigned');
    const raw = await received(sink, 'inbound unsigned');
    assert.doesNotMatch(raw.toString('latin1'), /^DKIM-Signature:/im);
    assert.equal(messageLine(qid)?.dkim, undefined);
  });

  it("does not sign a user's mail whose From domain is not a signing domain", async () => {
    await sendAsAlice('alice@other.test', 'friend@far.test', 'other domain unsigned');
    const raw = await received(sink, 'other domain unsigned');
    assert.doesNotMatch(raw.toString('latin1'), /^DKIM-Signature:/im);
  });

  /** Each DKIM-Signature field of `raw`, top first, with what the receiver makes of it (mailauth lists them in order). */
  async function signatures(raw: Buffer): Promise<string[]> {
    return (await verify(raw, dns)).map((v) => `${v.domain}/${v.selector} ${v.result}`);
  }

  it("signs again a message of ours sent back from relay.networks with a list's Subject tag: the new signature on top passes", async () => {
    const first = (await received(sink, 'plain signed')).toString('latin1');
    // As a list server would: a tag on the Subject (which breaks our first signature), then back through the gateway.
    const resent = first.replace(/^Subject: plain signed/m, 'Subject: [team] plain signed again');
    const d = await SmtpDialog.connect(gw.port);
    let qid: string;
    try {
      assert.equal((await d.hello({ xclient: { addr: '192.0.2.8' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<team@example.com>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<friend@far.test>')).code, 250);
      const r = await d.data(resent);
      assert.equal(r.code, 250, r.text);
      qid = /queued as (\S+)/.exec(r.text)![1];
    } finally {
      await d.quit();
    }
    const raw = await received(sink, '[team] plain signed again');
    assert.equal(raw.toString('latin1').match(/^DKIM-Signature:/gim)?.length, 2);
    const [top, old] = await signatures(raw);
    assert.equal(top, 'example.com/s1 pass');
    assert.notEqual(old, 'example.com/s1 pass', 'the first signature no longer verifies under the tag');
    assert.ok(gw.logs.some((l) => l.msg === 'DKIM-signed' && l.qid === qid && l.dkim === 'example.com/s1'), 'the signer names the key used, with the qid');
  });

  it('signs a message that carries a made-up signature with our d= and s=', async () => {
    await sendAsAlice('alice@example.com', 'friend@far.test', 'made-up signature', { headers: { 'DKIM-Signature': 'd=example.com; s=s1; bh=AAAA; b=AAAA' } });
    const raw = await received(sink, 'made-up signature');
    assert.match(raw.toString('latin1'), /^DKIM-Signature: (?!d=example\.com; s=s1; bh=AAAA)/, 'ours first');
    assert.equal(raw.toString('latin1').match(/^DKIM-Signature:/gim)?.length, 2);
    // mailauth passes over the made-up field, which lacks v= and a=: ours is the one it checks.
    assert.deepEqual(await signatures(raw), ['example.com/s1 pass']);
  });
});
