// Internationalized domains on the way through: an address whose local part is ASCII reaches a next hop without
// SMTPUTF8 with its domain in A-labels, an A-label the client sent is never turned into Unicode, and the Received
// field stays ASCII outside SMTPUTF8 (and under it, but for what has no ASCII form). Real gateway, next hops on bare sockets that record every line as sent.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { until } from '../queue/send.ts';

interface HopTransaction { lines: string[]; data?: Buffer }

/** A next hop that offers SMTPUTF8 and 8BITMIME or neither, takes every recipient, and keeps each line as sent. */
async function startHop(opts: { smtputf8: boolean }) {
  const transactions: HopTransaction[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let tx: HopTransaction | undefined;
    let inData = false;
    const say = (s: string) => { if (!socket.destroyed) socket.write(`${s}\r\n`); };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          tx!.data = buf.subarray(0, end + 2);
          buf = buf.subarray(end + 5);
          inData = false;
          say('250 2.0.0 taken');
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.subarray(0, i).toString('utf8');
        buf = buf.subarray(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') say(opts.smtputf8 ? '250-hop.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8' : '250-hop.test\r\n250 PIPELINING');
        else if (verb === 'MAIL') { tx = { lines: [line] }; transactions.push(tx); say('250 2.1.0 ok'); }
        else if (verb === 'RCPT') { tx?.lines.push(line); say('250 2.1.5 ok'); }
        else if (verb === 'DATA') { inData = true; say('354 go ahead'); }
        else if (verb === 'QUIT') { say('221 2.0.0 bye'); socket.end(); }
        else say('250 2.0.0 ok');
      }
    });
    say('220 hop.test ESMTP');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port, transactions,
    async delivered(count: number): Promise<HopTransaction[]> {
      await until(() => transactions.filter((t) => t.data).length >= count, 15_000, `${count} message(s) at the next hop`);
      return transactions.filter((t) => t.data);
    },
    stop: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
type Hop = Awaited<ReturnType<typeof startHop>>;

/** One message; `rcpt` and `helo` are written as UTF-8 when beyond ASCII. Returns the replies to MAIL, RCPT and the dot. */
async function send(port: number, o: { helo?: string; mail: string; rcpt: string }): Promise<number[]> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello({ helo: o.helo });
    const mail = await d.cmd(o.mail);
    const rcpt = await d.cmd(o.rcpt);
    if (rcpt.code !== 250) return [mail.code, rcpt.code];
    const dot = await d.data('From: a@example.org\r\nTo: taro@example.jp\r\nSubject: idn\r\n\r\nHello.\r\n');
    return [mail.code, rcpt.code, dot.code];
  } finally { await d.quit(); }
}

describe('IDN addresses relayed to next hops with and without SMTPUTF8', function () {
  this.timeout(60_000);
  let plain: Hop;
  let utf8: Hop;
  let gwPlain: TestGateway;
  let gwUtf8: TestGateway;
  before(async () => {
    plain = await startHop({ smtputf8: false });
    utf8 = await startHop({ smtputf8: true });
    const config = (port: number) => ({
      domains: ['例え.jp', 'bücher.example'], smarthost: { url: `smtp://127.0.0.1:${port}`, starttls: 'off' },
    });
    gwPlain = await startGateway({ config: config(plain.port) });
    gwUtf8 = await startGateway({ config: config(utf8.port) });
  });
  after(async () => {
    await gwPlain?.stop(); await gwUtf8?.stop();
    await plain?.stop(); await utf8?.stop();
  });

  it('an A-label recipient under SMTPUTF8 goes as sent, to either hop (it was turned into Unicode and bounced 553)', async () => {
    for (const [gw, hop] of [[gwPlain, plain], [gwUtf8, utf8]] as const) {
      const before = hop.transactions.length;
      assert.deepEqual(await send(gw.port, { mail: 'MAIL FROM:<a@example.org> SMTPUTF8', rcpt: 'RCPT TO:<taro@xn--r8jz45g.jp>' }), [250, 250, 250]);
      const [tx] = (await hop.delivered(before + 1)).slice(before);
      assert.equal(tx.lines[1], 'RCPT TO:<taro@xn--r8jz45g.jp>');
    }
  });

  it('a Unicode domain with an ASCII local part goes in A-labels to a hop without SMTPUTF8 and to one with it alike', async () => {
    let before = plain.transactions.length;
    assert.deepEqual(await send(gwPlain.port, { mail: 'MAIL FROM:<ann@bücher.example> SMTPUTF8', rcpt: 'RCPT TO:<taro@例え.jp>' }), [250, 250, 250]);
    let [tx] = (await plain.delivered(before + 1)).slice(before);
    assert.match(tx.lines[0], /^MAIL FROM:<ann@xn--bcher-kva\.example>/);
    assert.equal(tx.lines[1], 'RCPT TO:<taro@xn--r8jz45g.jp>');

    before = utf8.transactions.length;
    assert.deepEqual(await send(gwUtf8.port, { mail: 'MAIL FROM:<ann@bücher.example> SMTPUTF8', rcpt: 'RCPT TO:<taro@例え.jp>' }), [250, 250, 250]);
    [tx] = (await utf8.delivered(before + 1)).slice(before);
    // The front door takes every domain in A-labels (core/smtp/address-form.ts); the transaction keeps its SMTPUTF8.
    assert.match(tx.lines[0], /^MAIL FROM:<ann@xn--bcher-kva\.example> .*SMTPUTF8/);
    assert.equal(tx.lines[1], 'RCPT TO:<taro@xn--r8jz45g.jp>');
  });

  it('a local part beyond ASCII still needs SMTPUTF8 at the next hop: it bounces there, to the sender', async () => {
    const before = plain.transactions.length;
    assert.deepEqual(await send(gwPlain.port, { mail: 'MAIL FROM:<a@xn--bcher-kva.example> SMTPUTF8', rcpt: 'RCPT TO:<пётр@例え.jp>' }), [250, 250, 250]);
    // The notice goes to the sender (a local domain here), with its domain in A-labels; the recipient never went.
    const [dsn] = (await plain.delivered(before + 1)).slice(before);
    assert.equal(dsn.lines[0].startsWith('MAIL FROM:<>'), true);
    assert.equal(dsn.lines[1], 'RCPT TO:<a@xn--bcher-kva.example>');
    assert.match(dsn.data!.toString('utf8'), /553 5\.6\.7/);
  });

  it('the Received field names a Unicode HELO in A-labels outside SMTPUTF8 (it carried raw UTF-8 to a 7-bit hop)', async () => {
    const before = plain.transactions.length;
    assert.deepEqual(await send(gwPlain.port, { helo: 'bücher.example', mail: 'MAIL FROM:<a@example.org>', rcpt: 'RCPT TO:<taro@xn--r8jz45g.jp>' }), [250, 250, 250]);
    const [tx] = (await plain.delivered(before + 1)).slice(before);
    const received = tx.data!.toString('latin1').split(/\r\n(?![ \t])/).find((f) => f.startsWith('Received:'))!;
    assert.match(received, /^Received: from xn--bcher-kva\.example \(/);
    assert.match(received, /for <taro@xn--r8jz45g\.jp>/);
    assert.doesNotMatch(tx.data!.toString('latin1'), /[\x80-\xff]/, 'an 8-bit byte reached a hop without 8BITMIME');
  });

  it('a HELO beyond ASCII that is no host name is escaped outside SMTPUTF8, kept as sent under it', async () => {
    let before = plain.transactions.length;
    assert.deepEqual(await send(gwPlain.port, { helo: 'bü!x', mail: 'MAIL FROM:<a@example.org>', rcpt: 'RCPT TO:<taro@xn--r8jz45g.jp>' }), [250, 250, 250]);
    let [tx] = (await plain.delivered(before + 1)).slice(before);
    assert.match(tx.data!.toString('latin1'), /^Received: from b\\xC3\\xBC!x \(/m);

    before = utf8.transactions.length;
    assert.deepEqual(await send(gwUtf8.port, { helo: 'bü!x', mail: 'MAIL FROM:<a@example.org> SMTPUTF8', rcpt: 'RCPT TO:<taro@例え.jp>' }), [250, 250, 250]);
    [tx] = (await utf8.delivered(before + 1)).slice(before);
    assert.match(tx.data!.toString('utf8'), /^Received: from bü!x \([^\r]*\r\n\tby [^\r]* with UTF8SMTP /m);
  });

  it('under SMTPUTF8 the Received field names a Unicode HELO and recipient domain in A-labels: it needs no SMTPUTF8', async () => {
    const before = utf8.transactions.length;
    assert.deepEqual(await send(gwUtf8.port, { helo: 'bücher.example', mail: 'MAIL FROM:<a@example.org> SMTPUTF8', rcpt: 'RCPT TO:<taro@例え.jp>' }), [250, 250, 250]);
    const [tx] = (await utf8.delivered(before + 1)).slice(before);
    const received = tx.data!.toString('latin1').split(/\r\n(?![ \t])/).find((f) => f.startsWith('Received:'))!;
    assert.match(received, /^Received: from xn--bcher-kva\.example \([^\r]*\r\n\tby [^\r]* with UTF8SMTP /);
    assert.match(received, /for <taro@xn--r8jz45g\.jp>/);
  });
});

describe('recipient-verify asks a next hop without SMTPUTF8 about an A-label recipient', function () {
  this.timeout(30_000);
  let hop: Hop;
  let gw: TestGateway;
  before(async () => {
    hop = await startHop({ smtputf8: false });
    gw = await startGateway({
      config: {
        domains: ['例え.jp'], smarthost: { url: `smtp://127.0.0.1:${hop.port}`, starttls: 'off' },
        plugins: [{ name: 'recipient-verify', target: { url: `smtp://127.0.0.1:${hop.port}`, starttls: 'off' } }],
      },
    });
  });
  after(async () => { await gw?.stop(); await hop?.stop(); });

  it('under SMTPUTF8 the probe names it as sent, and the server behind answers (it was refused 553 without asking)', async () => {
    assert.deepEqual(await send(gw.port, { mail: 'MAIL FROM:<a@example.org> SMTPUTF8', rcpt: 'RCPT TO:<taro@xn--r8jz45g.jp>' }), [250, 250, 250]);
    const probe = hop.transactions.find((t) => t.lines[0] === 'MAIL FROM:<>');
    assert.equal(probe?.lines[1], 'RCPT TO:<taro@xn--r8jz45g.jp>');
    const [tx] = await hop.delivered(1);
    assert.equal(tx.lines[1], 'RCPT TO:<taro@xn--r8jz45g.jp>');
  });

  it('under SMTPUTF8 a Unicode domain with an ASCII local part is probed in A-labels, not refused 553 without asking', async () => {
    const before = hop.transactions.length;
    assert.deepEqual(await send(gw.port, { mail: 'MAIL FROM:<a@example.org> SMTPUTF8', rcpt: 'RCPT TO:<hanako@例え.jp>' }), [250, 250, 250]);
    const probe = hop.transactions.slice(before).find((t) => t.lines[0] === 'MAIL FROM:<>');
    assert.equal(probe?.lines[1], 'RCPT TO:<hanako@xn--r8jz45g.jp>');
  });
});
