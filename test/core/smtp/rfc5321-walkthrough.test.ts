// A conformance walkthrough of the front door, with raw dialogues against a real gateway relaying to a real sink:
// the dot a line begins with (RFC 5321 §4.5.2), parameters after HELO (nothing offered: 555), AUTH= where AUTH is not
// listed, RSET with an argument, STARTTLS within a transaction, an overlong command line, the unknown-verb drop, and
// the idle time within DATA (at least the RFC's 3 minutes per block).
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { DATA_BLOCK_MS } from '../../../core/smtp/stress-mode.ts';

const line = (r: { code: number; text: string }) => `${r.code} ${r.text}`;

async function helo(port: number, verb: 'HELO' | 'EHLO' = 'HELO'): Promise<SmtpDialog> {
  const d = await SmtpDialog.connect(port);
  assert.equal((await d.read()).code, 220);
  assert.equal((await d.cmd(`${verb} client.test`)).code, 250);
  return d;
}

describe('RFC 5321 walkthrough of the front door', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config: { server: { greeting_delay: 0 } } }); });
  after(() => gw?.stop());

  describe('dots at the start of a line (§4.5.2)', () => {
    it('deletes the first dot of a line that holds more: `.x` reaches the sink as `x`, `..y` as `.y`', async () => {
      const d = await helo(gw.port, 'EHLO');
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const head = testMessage({ subject: 'dots-walkthrough', body: '' });
      const r = await d.data(`${head}.x\r\n..y\r\nplain\r\n.\r\n`, { raw: true });
      assert.equal(r.code, 250, line(r));
      await d.quit();
      const got = await gw.sink.waitForText('dots-walkthrough');
      assert.ok(got.endsWith('\r\n\r\nx\r\n.y\r\nplain\r\n'), JSON.stringify(got.slice(-40)));
    });

    for (const framing of ['\n.\n', '\r.\n', '\n.\r\n', '\r\n.\n']) {
      it(`neither ends DATA nor splits the message at ${JSON.stringify(framing)}`, async () => {
        const before = gw.sink.messages.length;
        const d = await helo(gw.port, 'EHLO');
        assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
        const marker = `smuggle-${before}`;
        const smuggled = `MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n`;
        const r = await d.data(`${testMessage({ subject: marker, body: '' })}a${framing}${smuggled}.\r\n`, { raw: true });
        assert.equal(r.code, 250, line(r));
        assert.equal((await d.cmd('NOOP')).code, 250, 'the next reply is the NOOP\'s: nothing smuggled was answered');
        await d.quit();
        const got = await gw.sink.waitForText(marker);
        assert.ok(got.includes('MAIL FROM:<evil@x.example>'), 'the would-be commands are the message\'s text');
        assert.equal(gw.sink.messages.filter((m) => m.rcptTo.includes('victim@example.com')).length, 0);
      });
    }
  });

  describe('after HELO nothing is offered', () => {
    const mailParams = ['SIZE=100', 'BODY=8BITMIME', 'SMTPUTF8', 'RET=HDRS', 'ENVID=abc', 'AUTH=<>'];

    it('refuses every MAIL FROM and RCPT TO parameter with 555 5.5.4 and relays the message as SMTP', async () => {
      const d = await helo(gw.port, 'HELO');
      for (const p of mailParams) {
        const r = await d.cmd(`MAIL FROM:<sender@client.example> ${p}`);
        assert.equal(r.code, 555, `${p}: ${line(r)}`);
        assert.match(r.text, /^5\.5\.4 /);
      }
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      for (const p of ['NOTIFY=NEVER', 'ORCPT=rfc822;user@example.com']) {
        const r = await d.cmd(`RCPT TO:<user@example.com> ${p}`);
        assert.equal(r.code, 555, `${p}: ${line(r)}`);
      }
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const r = await d.data(testMessage({ subject: 'after-helo-walkthrough' }));
      assert.equal(r.code, 250, line(r));
      await d.quit();
      const got = await gw.sink.waitForText('after-helo-walkthrough');
      const received = /^Received:[^]*?(?=\r\n\S)/m.exec(got)?.[0] ?? '';
      assert.match(received, /\bwith SMTP\b/, received);
      assert.doesNotMatch(received, /UTF8SMTP|ESMTP/, received);
    });

    it('takes the same parameters after EHLO, but AUTH= only once AUTH is listed (after STARTTLS)', async () => {
      const d = await helo(gw.port, 'EHLO');
      for (const p of ['SIZE=100', 'BODY=8BITMIME', 'SMTPUTF8']) {
        const r = await d.cmd(`MAIL FROM:<sender@client.example> ${p}`);
        assert.equal(r.code, 250, `${p}: ${line(r)}`);
        assert.equal((await d.cmd('RSET')).code, 250);
      }
      const plain = await d.cmd('MAIL FROM:<sender@client.example> AUTH=<>');
      assert.equal(line(plain), '555 5.5.4 Unsupported parameter AUTH', 'AUTH is not listed before TLS');
      assert.equal((await d.starttls()).code, 220);
      assert.equal((await d.cmd('EHLO client.test')).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example> AUTH=<>')).code, 250, 'listed after STARTTLS');
      await d.quit();
    });
  });

  describe('commands', () => {
    it('answers RSET with an argument 501 5.5.4 and keeps the transaction', async () => {
      const d = await helo(gw.port, 'EHLO');
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal(line(await d.cmd('RSET now')), '501 5.5.4 Syntax: RSET');
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250, 'the transaction was not reset');
      assert.equal((await d.cmd('RSET')).code, 250);
      await d.quit();
    });

    it('answers STARTTLS within a transaction 503 5.5.1, and takes it once the transaction is reset', async () => {
      const d = await helo(gw.port, 'EHLO');
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal(line(await d.cmd('STARTTLS')), '503 5.5.1 Error: MAIL transaction in progress');
      assert.equal((await d.cmd('RSET')).code, 250);
      assert.equal((await d.starttls()).code, 220);
      assert.equal((await d.cmd('EHLO client.test')).code, 250);
      await d.quit();
    });

    it('answers a 70 KB command line 500 5.5.2 and keeps the session, pipelined or in pieces', async () => {
      const d = await helo(gw.port, 'EHLO');
      const long = `NOOP ${'x'.repeat(70 * 1024)}`;
      d.write(`${long}\r\nNOOP\r\n`);
      assert.equal(line(await d.read()), '500 5.5.2 Error: line too long');
      assert.equal((await d.read()).code, 250, 'the NOOP behind it is answered');
      d.write(long.slice(0, 40_000));
      d.write(long.slice(40_000));
      assert.equal(line(await d.cmd('')), '500 5.5.2 Error: line too long', 'a line that came in pieces');
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250, 'the session goes on');
      await d.quit();
      assert.ok(!gw.logs.some((l) => l.reason === 'command line too long'), 'no drop was logged');
    });

    it('drops a client at its tenth unknown verb with 421 4.7.0, as max_errors does', async () => {
      const d = await helo(gw.port, 'EHLO');
      for (let i = 1; i < 10; i++) assert.equal((await d.cmd(`BOGUS${i}`)).code, 500);
      assert.equal(line(await d.cmd('BOGUS10')), '421 4.7.0 Error: too many unrecognized commands');
      await waitFor('the connection to close', () => (d.closed ? true : undefined));
    });
  });

  describe('idle time', () => {
    it('defaults to RFC 5321\'s 5 minutes, and within DATA to at least the 3 minutes of a data block', async () => {
      const cfg = await validateConfig({});
      assert.equal(cfg.server.idle_timeout, 300_000);
      assert.equal(cfg.server.stress_idle_timeout, 10_000, 'stress still cuts idle clients sooner');
      assert.equal(DATA_BLOCK_MS, 180_000);
    });
  });
});

describe('a pause within DATA longer than idle_timeout', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config: { server: { greeting_delay: 0, idle_timeout: '1s' } } }); });
  after(() => gw?.stop());

  it('is not cut off: the message is taken, while a client idle as long outside DATA got 421', async () => {
    const d = await helo(gw.port, 'EHLO');
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.cmd('DATA')).code, 354);
    d.write(testMessage({ subject: 'paused-walkthrough', body: 'first block\r\n' }));
    // The clock: a session opened now and left idle is closed after idle_timeout; the message has paused as long.
    const idle = await helo(gw.port, 'EHLO');
    const cut = await idle.read(10_000);
    assert.equal(cut.code, 421, line(cut));
    d.write('second block, after the pause\r\n.\r\n');
    const r = await d.read(10_000);
    assert.equal(r.code, 250, line(r));
    await d.quit();
    const got = await gw.sink.waitForText('paused-walkthrough');
    assert.match(got, /first block\r\nsecond block, after the pause\r\n$/);
  });
});
