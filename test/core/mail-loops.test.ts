// Mail loops with real gateways: limits.max_hops at the end of DATA, and a next hop that is the gateway itself.
import assert from 'node:assert/strict';
import net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/ports.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { SmtpRelay } from '../../core/relay/smtp-relay.ts';
import type { QueueEntry } from '../../core/queue/entry.ts';
import { Readable } from 'node:stream';
import type { LogFields } from '../../core/log/types.ts';

/** A message with `received` Received fields of hops before the client, as a message in a loop comes back. */
function withReceived(received: number, subject: string): string {
  const fields = Array.from({ length: received }, (_, i) => `Received: from hop${i}.example (hop${i}.example [192.0.2.${i % 250 + 1}])\r\n\tby relay${i}.example with ESMTP id H${i};\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n`);
  return `${fields.join('')}From: a@client.example\r\nTo: user@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@client.example>\r\n\r\nbody\r\n`;
}

async function sendRaw(port: number, from: string, message: string): Promise<{ code: number; text: string }> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd(`MAIL FROM:<${from}>`)).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(message);
    return { code: r.code, text: r.text };
  } finally {
    await d.quit();
  }
}

const lines = (gw: TestGateway, msg: string) => gw.logs.filter((l) => l.msg === msg);

describe('mail loops', function () {
  this.timeout(30_000);
  const gateways: TestGateway[] = [];
  const servers: Array<{ close(cb: () => void): void }> = [];
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  it('refuses at the end of DATA a message whose Received fields, with ours, reach limits.max_hops (554 5.4.6), as Postfix counts', async () => {
    const gw = await startGateway({ config: { limits: { max_hops: 5 } } });
    gateways.push(gw);
    // 3 of them and ours are 4 hops: taken. 4 and ours are 5: refused, as Postfix's hopcount_limit refuses them.
    assert.equal((await sendRaw(gw.port, 'a@client.example', withReceived(3, 'three'))).code, 250);
    const refused = await sendRaw(gw.port, 'a@client.example', withReceived(4, 'four'));
    assert.equal(refused.code, 554);
    assert.match(refused.text, /^5\.4\.6 Too many hops/);
    const sixty = await sendRaw(gw.port, 'a@client.example', withReceived(60, 'sixty'));
    assert.equal(sixty.code, 554);
    const warned = lines(gw, 'message refused: too many hops, a mail loop');
    assert.deepEqual(warned.map((l) => l.hops), [5, 61]);
    assert.ok(warned.every((l) => l.level === 'warn' && l.max_hops === 5));
    const summary = gw.logs.find((l) => l.msg === 'message' && l.message_id === '<four@client.example>')!;
    assert.equal(summary.verdict, 'reject');
    assert.equal(summary.reply, '554 5.4.6 Too many hops');
    assert.equal(summary.hops, 5);
    assert.match(String(summary.reason), /mail loop: 5 hops with ours, limits\.max_hops is 5/);
  });

  it('refuses a message with 60 Received fields under the default limit of 50', async () => {
    const gw = await startGateway();
    gateways.push(gw);
    assert.equal((await sendRaw(gw.port, 'a@client.example', withReceived(48, 'forty-eight'))).code, 250);
    const r = await sendRaw(gw.port, 'a@client.example', withReceived(60, 'sixty'));
    assert.equal(r.code, 554);
    assert.match(r.text, /^5\.4\.6 Too many hops/);
  });

  it('stops two gateways that relay to each other at limits.max_hops, and the last sender dead-letters the 554', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const gwA = await startGateway({ config: { server: { hostname: 'a.loop.test', listen: [`127.0.0.1:${portA}`] }, smarthost: `smtp://127.0.0.1:${portB}`, limits: { max_hops: 5 } } });
    gateways.push(gwA);
    const gwB = await startGateway({ config: { server: { hostname: 'b.loop.test', listen: [`127.0.0.1:${portB}`] }, smarthost: `smtp://127.0.0.1:${portA}`, limits: { max_hops: 5 } } });
    gateways.push(gwB);
    // The null sender: no notice joins the loop, so each hop counted below is the message's.
    assert.equal((await sendRaw(portA, '', withReceived(0, 'looping'))).code, 250);
    const dead = await waitFor('B to dead-letter the message A refused', () => lines(gwB, 'permanent failure: moved to dead-letter')[0]);
    assert.deepEqual(dead.failed, ['user@example.com: 554 5.4.6 Too many hops']);
    // client → A (1 hop) → B (2) → A (3) → B (4) → A refuses (5): three deliveries between them, then the stop.
    assert.equal(lines(gwA, 'delivered').length, 2);
    assert.equal(lines(gwB, 'delivered').length, 1);
    const taken = (gw: TestGateway) => gw.logs.filter((l) => l.msg === 'message' && l.verdict !== 'reject').length;
    assert.equal(taken(gwA), 2);
    assert.equal(taken(gwB), 2);
    const [refusal] = lines(gwA, 'message refused: too many hops, a mail loop');
    assert.equal(refusal.hops, 5);
    assert.equal(refusal.hops_through_us, 2, 'two of the Received fields it came with were written by A');
  });

  it('bounces at once, never relaying, when the smarthost is the gateway\'s own listener', async () => {
    const port = await freePort();
    const gw = await startGateway({ config: { server: { listen: [`127.0.0.1:${port}`] }, smarthost: `smtp://127.0.0.1:${port}` } });
    gateways.push(gw);
    assert.equal((await sendRaw(port, 'sender@example.com', withReceived(0, 'self'))).code, 250);
    const dead = await waitFor('the message dead-lettered', () => lines(gw, 'permanent failure: moved to dead-letter').find((l) => !l.dsn));
    assert.deepEqual(dead.failed, ['user@example.com: 554 5.4.6 mail for example.com loops back to myself']);
    // Its notice to the sender (a local domain, so through the same smarthost) loops too, and as a notice is only kept.
    await waitFor('the notice dead-lettered', () => lines(gw, 'permanent failure: moved to dead-letter').find((l) => l.dsn));
    assert.equal(lines(gw, 'delivered').length, 0, 'nothing was relayed');
    assert.equal(gw.logs.filter((l) => l.msg === 'message').length, 1, 'the gateway never received its own message back');
    const loop = gw.logs.find((l) => l.level === 'error' && String(l.msg).startsWith('mail loop:'))!;
    assert.equal(loop.msg, `mail loop: 127.0.0.1:${port} is this gateway's own listener (server.listen 127.0.0.1:${port})`);
  });

  it('bounces with 5.4.6 when the next hop greets with the gateway\'s own hostname, and sends it nothing', async () => {
    const received: string[] = [];
    const sink = new SMTPServer({
      name: 'mx.test.example', authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, _s, cb) { stream.on('data', () => undefined); stream.on('end', () => { received.push('message'); cb(); }); },
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
    servers.push(sink);
    const sinkPort = (sink.server.address() as net.AddressInfo).port;
    const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${sinkPort}` } });
    gateways.push(gw);
    assert.equal((await sendRaw(gw.port, '', withReceived(0, 'named'))).code, 250);
    const dead = await waitFor('the message dead-lettered', () => lines(gw, 'permanent failure: moved to dead-letter')[0]);
    assert.deepEqual(dead.failed, ['user@example.com: 554 5.4.6 mail for example.com loops back to myself']);
    const loop = gw.logs.find((l) => l.level === 'error' && String(l.msg).startsWith('mail loop:'))!;
    assert.equal(loop.msg, `mail loop: 127.0.0.1:${sinkPort} greeted us with our own hostname mx.test.example`);
    assert.deepEqual(received, []);
  });

  it('fails for good when only the EHLO reply names our hostname', async () => {
    // A server whose greeting names another host and whose EHLO answers as us (Postfix checks both).
    const server = net.createServer((s) => {
      s.write('220 front.example ESMTP\r\n');
      s.on('data', (d) => {
        const line = d.toString('latin1');
        if (/^EHLO/i.test(line)) s.write('250-relay.test\r\n250 PIPELINING\r\n');
        else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
        else s.write('250 ok\r\n');
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    servers.push(server);
    const port = (server.address() as net.AddressInfo).port;
    const logged: LogFields[] = [];
    const log = { debug() {}, info() {}, warn() {}, error(msg: string, f?: LogFields) { logged.push({ msg, ...f }); }, child() { return log; } };
    const relay = new SmtpRelay({ host: '127.0.0.1', port, secure: false, starttls: 'off', tlsVerify: false, connections: 1, display: 'scripted' }, 'relay.test', log as never);
    try {
      const entry = { id: 'q1', mailFrom: 'a@client.example', recipients: [{ address: 'u@dest.example', status: 'pending' }], prepend: '', remove: [], size: 10 } as unknown as QueueEntry;
      const [r] = await relay.send(entry, ['u@dest.example'], () => Readable.from([Buffer.from('Subject: x\r\n\r\nbody\r\n')]));
      assert.equal(r.ok, false);
      assert.equal(r.permanent, true);
      assert.equal(r.reply, '554 5.4.6 mail for dest.example loops back to myself');
      assert.match(String(logged[0]?.msg), /^mail loop: 127\.0\.0\.1:\d+ answered EHLO with our own hostname relay\.test$/);
    } finally {
      await relay.close();
    }
  });
});
