// What an RFC 5321 walk-through found, driven with raw sockets against a real gateway relaying to a recording
// smarthost: a missing empty line after the header section, quoted local parts with spaces, timeouts on the log,
// the Received protocol and HELO literal, EXPN, source routes and IP literals.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const VIEW_PLUGIN = path.resolve(import.meta.dirname, 'message-view-plugin.ts');

/** The relayed message split at its first empty line: header section and body. */
function sections(raw: string): { head: string; body: string } {
  const i = raw.indexOf('\r\n\r\n');
  assert.ok(i >= 0, `no empty line in the relayed message:\n${raw}`);
  return { head: raw.slice(0, i + 2), body: raw.slice(i + 4) };
}

/** Sends one message from a raw socket with `data` as the bytes between 354 and the final dot. */
async function sendRaw(gw: RelayingGateway, data: string, opts: { from?: string; to?: string; marker: string }): Promise<string> {
  const d = await SmtpDialog.connect(gw.port);
  assert.equal((await d.hello()).code, 250);
  assert.equal((await d.cmd(`MAIL FROM:<${opts.from ?? 'sender@client.example'}>`)).code, 250);
  assert.equal((await d.cmd(`RCPT TO:<${opts.to ?? 'user@example.com'}>`)).code, 250);
  assert.equal((await d.cmd('DATA')).code, 354);
  d.write(`${data}.\r\n`);
  const r = await d.read();
  assert.equal(r.code, 250, r.text);
  await d.quit();
  return gw.sink.waitForText(opts.marker);
}

describe('RFC conformance of the front door', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'message-view', module: VIEW_PLUGIN }] } });
  });
  after(() => gw?.stop());

  describe('a header section without its empty line', () => {
    it('puts the empty line before a message that has no header fields, so its text stays the body', async () => {
      const raw = await sendRaw(gw, 'just text without headers\r\nsecond line\r\n', { marker: 'just text without headers' });
      const { head, body } = sections(raw);
      assert.equal(body, 'just text without headers\r\nsecond line\r\n');
      assert.match(head, /^Received: from /);
      // The plugin parsed the same message: no Subject, the two lines as its text.
      assert.match(head, /X-Seen-Subject: null\r\n/);
      assert.match(head, /X-Seen-Text: "just text without headers\\nsecond line"\r\n/);
    });

    it('puts it after the last header field when the body follows the fields directly', async () => {
      const raw = await sendRaw(gw, 'Subject: fields then text\r\nbody text right after\r\n', { marker: 'body text right after' });
      const { head, body } = sections(raw);
      assert.equal(body, 'body text right after\r\n');
      assert.match(head, /\r\nSubject: fields then text\r\n$/);
      assert.match(head, /X-Seen-Subject: "fields then text"\r\n/);
      assert.match(head, /X-Seen-Text: "body text right after"\r\n/);
    });

    it('does the same for a message whose lines end in a bare CR, once they are made CRLF', async () => {
      const raw = await sendRaw(gw, 'Subject: bare cr\rtext after bare cr\rmore\r\n', { marker: 'text after bare cr' });
      const { head, body } = sections(raw);
      assert.equal(body, 'text after bare cr\r\nmore\r\n');
      assert.match(head, /\r\nSubject: bare cr\r\n$/);
    });

    it('leaves a well-formed message, folded fields included, byte for byte as sent', async () => {
      const message = 'Subject: folded\r\n and continued\r\nX-Odd : spaced name\r\n\r\nplain body\r\n';
      const raw = await sendRaw(gw, message, { marker: 'plain body' });
      assert.ok(raw.endsWith(message), raw);
      assert.match(raw, /X-Seen-Text: "plain body"\r\n/);
    });
  });

  describe('quoted local parts with a space (RFC 5321 §4.1.2)', () => {
    it('takes them in MAIL FROM and RCPT TO, with parameters after them, and relays them unchanged', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      const mail = await d.cmd('MAIL FROM:<"a b"@b.example> SIZE=200');
      assert.equal(mail.code, 250, mail.text);
      const rcpt = await d.cmd('RCPT TO:<"c d"@example.com>');
      assert.equal(rcpt.code, 250, rcpt.text);
      assert.equal((await d.data('Subject: quoted\r\n\r\nquoted-local-part-marker\r\n')).code, 250);
      await d.quit();
      await gw.sink.waitForText('quoted-local-part-marker');
      const got = gw.sink.messages.find((m) => m.raw.toString('latin1').includes('quoted-local-part-marker'))!;
      assert.equal(got.mailFrom, '"a b"@b.example');
      assert.deepEqual(got.rcptTo, ['"c d"@example.com']);
    });

    it('still refuses a parameter that is not offered after such a path', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      const r = await d.cmd('MAIL FROM:<"a b"@b.example> FOO=1');
      assert.equal(r.code, 555);
      assert.match(r.text, /Unsupported parameter FOO/);
      await d.quit();
    });
  });

  describe('the Received field', () => {
    it('says UTF8SMTP for an SMTPUTF8 transaction and keeps the IPv6: tag of a HELO address literal', async () => {
      const d = await SmtpDialog.connect(gw.port);
      assert.equal((await d.hello({ helo: '[IPv6:::1]' })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example> SMTPUTF8')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await d.data('Subject: utf8\r\n\r\nutf8-received-marker\r\n')).code, 250);
      await d.quit();
      const raw = await gw.sink.waitForText('utf8-received-marker');
      assert.match(raw, /^Received: from \[IPv6:::1\] \(/);
      assert.match(raw, /\) with UTF8SMTP id /);
    });

    it('says ESMTP without SMTPUTF8 and SMTP after HELO', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await d.data('Subject: esmtp\r\n\r\nesmtp-received-marker\r\n')).code, 250);
      await d.quit();
      assert.match(await gw.sink.waitForText('esmtp-received-marker'), /\) with ESMTP id /);

      const h = await SmtpDialog.connect(gw.port);
      await h.read();
      assert.equal((await h.cmd('HELO old.client.test')).code, 250);
      assert.equal((await h.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal((await h.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await h.data('Subject: smtp\r\n\r\nhelo-received-marker\r\n')).code, 250);
      await h.quit();
      assert.match(await gw.sink.waitForText('helo-received-marker'), /\) with SMTP id /);
    });
  });

  describe('commands', () => {
    it('answers EXPN (and the other commands RFC 5321 names and the gateway does not do) 502 5.5.1, an unknown one 500', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      for (const cmd of ['EXPN staff', 'TURN', 'SAML FROM:<a@b.example>']) {
        const r = await d.cmd(cmd);
        assert.equal(r.code, 502, `${cmd}: ${r.code} ${r.text}`);
        assert.match(r.text, /^5\.5\.1 /);
      }
      const unknown = await d.cmd('FROBNICATE');
      assert.equal(unknown.code, 500);
      assert.equal((await d.cmd('NOOP')).code, 250);
      await d.quit();
    });
  });

  describe('recipient forms', () => {
    it('takes a source route and relays to the address after it (RFC 5321 §4.1.2, appendix C)', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      const r = await d.cmd('RCPT TO:<@a.example,@b.example:u3@example.com>');
      assert.equal(r.code, 250, r.text);
      assert.equal((await d.data('Subject: routed\r\n\r\nsource-route-marker\r\n')).code, 250);
      await d.quit();
      await gw.sink.waitForText('source-route-marker');
      const got = gw.sink.messages.find((m) => m.raw.toString('latin1').includes('source-route-marker'))!;
      assert.deepEqual(got.rcptTo, ['u3@example.com']);
    });

    it('refuses an IP-literal recipient: relaying at another host\'s address, unknown but postmaster at its own', async () => {
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      const foreign = await d.cmd('RCPT TO:<u@[198.51.100.1]>');
      assert.equal(foreign.code, 550, foreign.text);
      assert.match(foreign.text, /5\.7\.1 .*IP-literal/);
      // Postmaster at the listening address is taken (address-literal-recipients.test.ts); another mailbox is not.
      const own = await d.cmd('RCPT TO:<u@[127.0.0.1]>');
      assert.equal(own.code, 550, own.text);
      assert.match(own.text, /^5\.1\.1 /);
      await d.quit();
    });
  });
});

describe('the idle timeout on the log', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  // Within DATA the idle time is at least 3 minutes (the RFC's data block): data_timeout cuts the message off here.
  before(async () => { gw = await startRelayingGateway({ config: { server: { idle_timeout: '1s' }, limits: { data_timeout: '2s' } } }); });
  after(() => gw?.stop());

  const closedLine = (cid: string) => waitFor(`the connection closed line for ${cid}`, () => gw.logs.find((l) => l.msg === 'connection closed' && l.cid === cid), 5000);

  it('logs a message cut off in DATA with the 421 the client got and the reason timeout during DATA', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.cmd('DATA')).code, 354);
    d.write('Subject: then silence\r\n');
    const r = await d.read(10_000);
    assert.equal(r.code, 421);
    const sent = `421 ${r.text}`;
    const summary = await waitFor('the summary line of the aborted message', () => gw.logs.find((l) => l.msg === 'message' && l.verdict === 'aborted'), 5000);
    assert.equal(summary.reply, sent);
    assert.equal(summary.reason, 'timeout during DATA');
    assert.equal(summary.size, 'Subject: then silence\r\n'.length, 'the bytes that had come, not 0');
    const closed = await closedLine(String(summary.cid));
    assert.equal(closed.reason, 'timeout after DATA');
  });

  it('logs an idle timeout outside DATA with the state it happened in', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<idle-after-rcpt@example.com>')).code, 250);
    const r = await d.read(10_000);
    assert.equal(r.code, 421);
    const refusedOrAccepted = gw.logs.filter((l) => l.msg === 'client timed out' && l.after === 'RCPT');
    assert.equal(refusedOrAccepted.length, 1);
    assert.equal(refusedOrAccepted[0].reply, `421 ${r.text}`);
    const closed = await closedLine(String(refusedOrAccepted[0].cid));
    assert.equal(closed.reason, 'timeout after RCPT');
  });

  it('names the state CONNECT before any command and END-OF-MESSAGE after a message was answered', async () => {
    const silent = await SmtpDialog.connect(gw.port);
    assert.equal((await silent.read()).code, 220);
    const done = await SmtpDialog.connect(gw.port);
    await done.hello();
    assert.equal((await done.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await done.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await done.data('Subject: then idle\r\n\r\nidle-after-message\r\n')).code, 250);
    assert.equal((await silent.read(10_000)).code, 421);
    assert.equal((await done.read(10_000)).code, 421);
    const states = gw.logs.filter((l) => l.msg === 'client timed out').map((l) => l.after);
    assert.ok(states.includes('CONNECT'), String(states));
    assert.ok(states.includes('END-OF-MESSAGE'), String(states));
  });
});
