// End to end: real SMTP clients → gateway → real smarthost; relay control, AUTH rules, pipelining, bare LF, spool recovery.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { startGateway, startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { ensureCommands } from '../helpers/system-packages.ts';

const run = promisify(execFile);

function bodyOf(raw: Buffer): Buffer {
  const i = raw.indexOf('\r\n\r\n');
  return raw.subarray(i + 4);
}

describe('gateway relays to the smarthost', () => {
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { relay: { networks: ['127.0.0.9/32'] } } });
  });
  after(() => gw.stop());
  beforeEach(() => { gw.sink.messages.length = 0; });

  it('delivers mail for a local domain with the body byte-identical', async () => {
    // The longest line SMTP allows (998 octets): longer ones leave broken (test/core/queue/long-lines.test.ts).
    const body = 'Line one\r\n.leading dot\r\n..two dots\r\nnon-ascii: \u00e9\u00e8\r\n' + 'x'.repeat(998) + '\r\n';
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true });
    const raw = testMessage({ subject: 'byte test', body });
    const info = await t.sendMail({ envelope: { from: 'sender@client.example', to: ['user@example.com'] }, raw });
    t.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as \w+/);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['user@example.com']);
    assert.equal(m.mailFrom, 'sender@client.example');
    assert.ok(bodyOf(m.raw).equals(bodyOf(Buffer.from(raw, 'utf8'))), 'body differs');
    assert.match(m.raw.toString(), /^Received: from client\.test|^Received: from /);
    assert.match(m.raw.toString(), /X-Mailmoat-Verdict: accept; score=0/);
  });

  it('refuses to relay for unauthenticated foreign recipients in every address form', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
    const forms = ['<user@foreign.example>', '<user%foreign.example@example.com>', '<foreign.example!user@example.com>',
      '<@example.com:user@foreign.example>', '<user@[192.0.2.1]>', '<"user@example.com"@foreign.example>'];
    for (const f of forms) {
      const r = await c.cmd(`RCPT TO:${f}`);
      assert.ok(r.code >= 500 && r.code < 600, `${f} → ${r.code} ${r.text}`);
    }
    // A mixed list is judged per recipient. An @ inside a quoted local part belongs to the local part (RFC 5321
    // Quoted-string): the domain after the last unquoted @ is the one judged, here a local one.
    for (const f of ['<user@example.com>', '<"user@foreign.example"@example.com>']) {
      const r = await c.cmd(`RCPT TO:${f}`);
      assert.equal(r.code, 250, `${f} → ${r.code} ${r.text}`);
    }
    await c.quit();
  });

  it('lets relay.networks relay to foreign domains', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello({ xclient: { addr: '127.0.0.9' } });
    assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<someone@foreign.example>')).code, 250);
    assert.equal((await c.data(testMessage({ to: 'someone@foreign.example' }))).code, 250);
    await c.quit();
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['someone@foreign.example']);
  });

  it('handles a pipelined session', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    const msg = testMessage({ subject: 'pipelined' }).replace(/\r\n$/, '') + '\r\n.\r\n';
    c.write(`MAIL FROM:<p@client.example>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@nowhere.example>\r\nDATA\r\n`);
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await c.read()).code);
    assert.deepEqual(codes, [250, 250, 250, 554, 354]);
    c.write(msg);
    assert.equal((await c.read()).code, 250);
    await c.quit();
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo.sort(), ['a@example.com', 'b@example.com']);
  });

  it('normalises bare LF to CRLF by default', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<lf@client.example>');
    await c.cmd('RCPT TO:<user@example.com>');
    const r = await c.data(Buffer.from('Subject: lf\r\n\r\nbare\nline\n.\nnot the end\r\n.\r\n'), { raw: true });
    assert.equal(r.code, 250);
    await c.quit();
    const [m] = await gw.sink.waitFor(1);
    assert.equal(bodyOf(m.raw).toString(), 'bare\r\nline\r\n.\r\nnot the end\r\n');
  });

  it('accepts mail sent by swaks', async () => {
    ensureCommands({ swaks: 'swaks' });
    const { stdout } = await run('swaks', ['--server', `127.0.0.1:${gw.port}`, '--from', 'swaks@client.example', '--to', 'user@example.com', '--body', 'from swaks', '--pipeline']);
    assert.match(stdout, /250 2\.0\.0 Ok: queued as/);
    const [m] = await gw.sink.waitFor(1);
    assert.match(m.raw.toString(), /from swaks/);
  });
});

describe('gateway with bare_lf: reject', () => {
  it('refuses DATA containing a bare LF', async () => {
    const gw = await startGateway({ config: { smtp: { bare_lf: 'reject' } } });
    try {
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      await c.cmd('MAIL FROM:<lf@client.example>');
      await c.cmd('RCPT TO:<user@example.com>');
      const r = await c.data(Buffer.from('Subject: lf\r\n\r\nbare\nline\r\n.\r\n'), { raw: true });
      assert.equal(r.code, 550);
      assert.match(r.text, /5\.6\.0 .*bare/);
      // the session goes on for the next message
      await c.cmd('MAIL FROM:<ok@client.example>');
      await c.cmd('RCPT TO:<user@example.com>');
      assert.equal((await c.data(testMessage())).code, 250);
      await c.quit();
    } finally { await gw.stop(); }
  });
});
