// Hostile and broken clients: random command soup, bytes after STARTTLS that are no TLS, cut connections. The
// gateway answers or drops them, logs a client's broken connection as a warning (never as its own error), and
// keeps serving everyone else.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { SmtpDialog, greeted } from '../helpers/smtp-dialog.ts';
import { sendMail, until } from './queue/send.ts';

const PIECES = [
  'EHLO x\r\n', 'HELO y\r\n', 'MAIL FROM:<a@b.example>\r\n', 'RCPT TO:<u@example.com>\r\n', 'DATA\r\n', '.\r\n', '\r\n.\r\n',
  '..\r\n', '\n.\n', '\r', '\n', 'X'.repeat(2000), 'STARTTLS\r\n', 'AUTH PLAIN AAAA\r\n', 'RSET\r\n', 'NOOP\r\n', 'VRFY x\r\n',
  'BDAT 10\r\n', '\x00\xff\xfe', 'QUIT\r\n', 'Subject: x\r\n\r\nbody\r\n', 'MAIL FROM:<>\r\n', 'RCPT TO:<\r\n', 'XCLIENT ADDR=1.2.3.4\r\n',
];

describe('hostile clients', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { limits: { max_message_size: '64KB' } } });
  });
  after(() => gw.stop());

  it('survives 300 connections of random command soup and then delivers a normal message', async () => {
    let seed = 1;
    const random = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 2 ** 32; };
    let closed = 0;
    await Promise.all(Array.from({ length: 300 }, () => new Promise<void>((resolve) => {
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => { closed++; resolve(); });
      let writes = 3 + Math.floor(random() * 30);
      const next = () => {
        if (writes-- <= 0 || s.destroyed) { s.destroy(); return; }
        let chunk = '';
        for (let k = 0; k < 1 + Math.floor(random() * 4); k++) chunk += PIECES[Math.floor(random() * PIECES.length)];
        s.write(Buffer.from(chunk, 'latin1'));
        setTimeout(next, Math.floor(random() * 5));
      };
      s.once('data', next);
    })));
    assert.equal(closed, 300);
    const ok = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'after the soup' });
    assert.equal(ok.code, 250);
    await gw.sink.waitForText('after the soup');
    assert.deepEqual(gw.logs.filter((l) => l.level === 'error').map((l) => `${l.msg} ${JSON.stringify(l)}`), [], 'no error of the gateway itself');
  });

  it('logs a client that hangs up in the middle of DATA as an aborted transaction, not as an error of its own', async () => {
    const before = gw.logs.length;
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<u@example.com>')).code, 250);
    assert.equal((await d.cmd('DATA')).code, 354);
    d.write('Subject: cut short\r\n\r\nthe first half of a body, and then the line goes dead\r\n');
    await new Promise((r) => setTimeout(r, 50));
    d.hangUp();
    await until(() => gw.logs.slice(before).some((l) => l.msg === 'message'), 5000, 'the transaction\'s log line');
    const line = gw.logs.slice(before).find((l) => l.msg === 'message')!;
    assert.equal(line.verdict, 'aborted');
    assert.equal(line.reason, 'client disconnected during DATA');
    assert.deepEqual(gw.logs.slice(before).filter((l) => l.level === 'error'), []);
    assert.deepEqual(await gw.gateway.runtime.queue.list(), [], 'nothing of it was kept');
    assert.equal((await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'after the cut' })).code, 250);
  });

  it('logs plaintext after STARTTLS as the client\'s broken connection, a warning with its address', async () => {
    const before = gw.logs.length;
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    await d.cmd('EHLO plain.test');
    assert.equal((await d.cmd('STARTTLS')).code, 220);
    d.write('this is not a TLS handshake\r\n');
    await until(() => gw.logs.slice(before).some((l) => l.msg === 'client connection error'), 5000, 'the client connection error');
    const line = gw.logs.slice(before).find((l) => l.msg === 'client connection error');
    assert.ok(line, 'a warning about the client');
    assert.equal(line.level, 'warn');
    assert.equal(line.client, '127.0.0.1');
    await d.quit().catch(() => undefined);
    assert.equal((await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'after tls' })).code, 250);
  });

  it('keeps the HELO name it accepted when a later EHLO names 16 KB or a control character, which get 501', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    assert.equal((await d.cmd('EHLO good.client.example')).code, 250);
    assert.equal((await d.cmd(`EHLO ${'h'.repeat(16_000)}`)).code, 501);
    assert.equal((await d.cmd('EHLO bad\x01name.example')).code, 501);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<u@example.com>')).code, 250);
    assert.equal((await d.data('Subject: helo kept\r\n\r\nhi\r\n')).code, 250);
    await d.quit();
    const relayed = await gw.sink.waitForText('helo kept');
    assert.match(relayed, /^Received: from good\.client\.example /m);
    assert.ok(!relayed.includes('hhhhhhhh') && !relayed.includes('bad\x01name'));
  });
});
