// Address forms Postfix takes that smtp-server refused: a domain written from the root (`u@EXAMPLE.COM.`), taken
// without its dot, which is then the address checked and relayed; a quoted local part holding an `@`
// (`"u@evil.test"@example.com`), taken and relayed as sent, its domain still the one after the last unquoted `@`.
// Through a real gateway, to a real smarthost behind a recorder of the lines the gateway sends it.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, greeted } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** A loopback forwarder in front of the smarthost that keeps what the gateway wrote to it, to read the envelope as sent. */
async function recordingForwarder(target: number): Promise<{ port: number; sent: () => string; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => { chunks.push(d); upstream.write(d); });
    upstream.on('data', (d: Buffer) => client.write(d));
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    for (const s of [client, upstream]) { s.on('error', drop); s.on('close', drop); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sent: () => Buffer.concat(chunks).toString('latin1'),
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

describe('front door: a root-terminated domain and an @ in a quoted local part', function () {
  this.timeout(30_000);
  let sink: Smarthost;
  let recorder: Awaited<ReturnType<typeof recordingForwarder>>;
  let gw: TestGateway;
  before(async () => {
    sink = await startSmarthost();
    recorder = await recordingForwarder(sink.port);
    // No relay networks: the test's client at 127.0.0.1 is an outside client, which may only send to example.com.
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${recorder.port}`, server: { trusted_proxies: [] } } });
  });
  after(async () => {
    await gw.stop();
    await recorder.close();
    await sink.stop();
  });

  async function send(from: string, rcpt: string, subject: string): Promise<void> {
    const { d } = await greeted(gw.port);
    try {
      assert.equal((await d.cmd(`MAIL FROM:<${from}>`)).code, 250);
      const r = await d.cmd(`RCPT TO:<${rcpt}>`);
      assert.equal(r.code, 250, `${rcpt}: ${r.code} ${r.text}`);
      assert.equal((await d.data(`From: ${from}\r\nSubject: ${subject}\r\n\r\nhello\r\n`)).code, 250);
    } finally { await d.quit(); }
  }

  it('takes u@EXAMPLE.COM. for the local domain, and relays it without the dot, the sender too', async () => {
    await send('a@client.example.', 'u@EXAMPLE.COM.', 'root-terminated');
    await sink.waitForText('Subject: root-terminated');
    const got = sink.messages.find((m) => m.raw.toString().includes('Subject: root-terminated'))!;
    assert.deepEqual(got.rcptTo, ['u@EXAMPLE.COM']);
    assert.equal(got.mailFrom, 'a@client.example');
    const wire = await waitFor('the relayed RCPT line', () => /RCPT TO:<u@EXAMPLE\.COM[^>]*>/.exec(recorder.sent())?.[0]);
    assert.equal(wire, 'RCPT TO:<u@EXAMPLE.COM>');
    assert.match(recorder.sent(), /MAIL FROM:<a@client\.example>/);
  });

  it('takes "u@evil.test"@example.com for the local domain and relays it as sent', async () => {
    await send('a@client.example', '"u@evil.test"@example.com', 'quoted-at');
    await sink.waitForText('Subject: quoted-at');
    const got = sink.messages.find((m) => m.raw.toString().includes('Subject: quoted-at'))!;
    assert.deepEqual(got.rcptTo, ['"u@evil.test"@example.com']);
    assert.match(recorder.sent(), /RCPT TO:<"u@evil\.test"@example\.com>\r\n/);
  });

  it('still refuses, from an outside client, what would relay elsewhere: the domain after the last unquoted @ decides', async () => {
    const { d } = await greeted(gw.port);
    try {
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      const refusals: Record<string, number> = {};
      for (const rcpt of [
        '"u@example.com"@evil.test', // the quoted part names a local domain; the domain is evil.test
        '"u@evil.test"@evil.test',
        'u@evil.test.', // root-terminated: judged without the dot, still not local
        'u%evil.test@example.com', // the percent hack
        'u@evil.test@example.com', // two unquoted @
        '"u"@evil.test"@example.com', // quotes that do not make one quoted local part
        'u@example.com..',
      ]) refusals[rcpt] = (await d.cmd(`RCPT TO:<${rcpt}>`)).code;
      assert.deepEqual(refusals, {
        '"u@example.com"@evil.test': 554,
        '"u@evil.test"@evil.test': 554,
        'u@evil.test.': 554,
        'u%evil.test@example.com': 550,
        'u@evil.test@example.com': 501,
        '"u"@evil.test"@example.com': 501,
        'u@example.com..': 501,
      });
    } finally { await d.quit(); }
    const relayed = gw.logs.filter((l) => l.msg === 'recipient refused').map((l) => String(l.reply ?? ''));
    assert.ok(relayed.some((r) => r.startsWith('554 5.7.1 Relay access denied for <"u@example.com"@evil.test>')), relayed.join('\n'));
  });
});
