// The relay's own SMTP client against real SMTP servers: dot-stuffing, per-recipient replies with and without
// PIPELINING, a pooled connection the server dropped, and credentials never sent without TLS.
import assert from 'node:assert/strict';
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { dotStuff, xtext } from '../../../core/relay/smtp-client.ts';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { loadTls } from '../../../core/smtp/tls.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function entry(size: number): QueueEntry {
  return {
    id: 'test', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size,
    client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

function relayTo(port: number, extra: Partial<ConstructorParameters<typeof SmtpRelay>[0]> = {}): SmtpRelay {
  return new SmtpRelay({ host: '127.0.0.1', port, secure: false, starttls: 'off', tlsVerify: false, connections: 2, timeout: 5000, display: `smtp://127.0.0.1:${port}`, ...extra }, 'relay.test');
}

/** Runs `use` against a real SMTP server on a loopback port (plain, no AUTH, accepting every message unless `options` say otherwise), then stops it. */
async function withServer(options: SMTPServerOptions, use: (port: number) => Promise<void>): Promise<void> {
  const server = new SMTPServer({
    logger: false, disableReverseLookup: true, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'],
    onData(stream, _s, cb) { stream.resume(); stream.on('end', () => cb()); },
    ...options,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  try { await use(port); } finally { await new Promise<void>((r) => server.close(() => r())); }
}

describe('relay SMTP client', function () {
  this.timeout(20_000);

  it('doubles a leading dot on every line, also across chunk boundaries', () => {
    assert.equal(dotStuff(Buffer.from('.a\r\nb\r\n.c\r\n..d'), true).toString(), '..a\r\nb\r\n..c\r\n...d');
    assert.equal(dotStuff(Buffer.from('.x'), false).toString(), '.x', 'not at a line start');
    assert.equal(dotStuff(Buffer.from('.x'), true).toString(), '..x');
    const plain = Buffer.from('no dots here\r\n');
    assert.equal(dotStuff(plain, true), plain, 'a chunk without a line-leading dot is passed as is');
  });

  describe('against a smarthost', () => {
    let sink: Smarthost;
    beforeEach(async () => { sink = await startSmarthost(); });
    afterEach(async () => { await sink.stop(); });

    it('delivers a message whose lines start with dots, in pieces, byte-identical, and adds the final line end', async () => {
      const body = 'Subject: dots\r\n\r\n.\r\n..two\r\n.end\r\nlast line without CRLF';
      const relay = relayTo(sink.port);
      const chunks = [body.slice(0, 18), body.slice(18, 19), body.slice(19, 23), body.slice(23)].map((c) => Buffer.from(c));
      const r = await relay.send(entry(body.length), ['u@example.com'], () => Readable.from(chunks));
      await relay.close();
      assert.deepEqual(r.map((x) => x.ok), [true]);
      const [m] = await sink.waitFor(1);
      assert.equal(m.raw.toString(), `${body}\r\n`);
    });

    it('reports each recipient: refused ones with their reply, the others delivered', async () => {
      sink.rcptReplies.set('gone@example.com', 550);
      sink.rcptReplies.set('later@example.com', 451);
      const relay = relayTo(sink.port);
      const msg = 'Subject: mixed\r\n\r\nhi\r\n';
      const r = await relay.send(entry(msg.length), ['ok@example.com', 'gone@example.com', 'later@example.com'], () => Readable.from([Buffer.from(msg)]));
      await relay.close();
      assert.deepEqual(r.map((x) => [x.address, x.ok, x.permanent]), [['ok@example.com', true, false], ['gone@example.com', false, true], ['later@example.com', false, false]]);
      assert.match(r[1].reply, /^550 /);
      assert.deepEqual((await sink.waitFor(1))[0].rcptTo, ['ok@example.com']);
    });
  });

  it('replaces a pooled connection the server dropped while it was idle', async () => {
    await withServer({ socketTimeout: 300 }, async (port) => {
      const relay = relayTo(port, { connections: 1 });
      const msg = 'Subject: again\r\n\r\nhi\r\n';
      const send = () => relay.send(entry(msg.length), ['u@example.com'], () => Readable.from([Buffer.from(msg)]));
      assert.ok((await send())[0].ok);
      await new Promise((r) => setTimeout(r, 700)); // the server says 421 and closes the idle connection
      const r = await send();
      await relay.close();
      assert.ok(r[0].ok, r[0].reply);
    });
  });

  it('asks for SMTPUTF8 when an address is beyond ASCII or the client sent the message with it, and passes SIZE and BODY=8BITMIME', async () => {
    const args: unknown[] = [];
    const rcpts: string[] = [];
    await withServer({
      size: 10_000_000,
      onMailFrom(a, _s, cb) { args.push(a.args); cb(); },
      onRcptTo(a, _s, cb) { rcpts.push(a.address); cb(); },
    }, async (port) => {
      const relay = relayTo(port);
      const msg = 'Subject: utf8\r\n\r\nhi\r\n';
      const r = await relay.send(entry(msg.length), ['jörg@example.com'], () => Readable.from([Buffer.from(msg)]));
      const plain = await relay.send(entry(msg.length), ['joe@example.com'], () => Readable.from([Buffer.from(msg)]));
      // Received with SMTPUTF8 (UTF-8 headers, ASCII addresses): the flag goes on to the next hop.
      const flagged = await relay.send({ ...entry(msg.length), smtputf8: true }, ['ann@example.com'], () => Readable.from([Buffer.from(msg)]));
      await relay.close();
      assert.ok(r[0].ok && plain[0].ok && flagged[0].ok, r[0].reply);
      assert.deepEqual(rcpts, ['jörg@example.com', 'joe@example.com', 'ann@example.com']);
      assert.deepEqual(args, [
        { SIZE: String(msg.length), BODY: '8BITMIME', SMTPUTF8: true },
        { SIZE: String(msg.length), BODY: '8BITMIME' },
        { SIZE: String(msg.length), BODY: '8BITMIME', SMTPUTF8: true },
      ]);
    });
  });

  it('speaks implicit TLS (smtps) and authenticates over it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-client-tls-'));
    const tls = loadTls({ dataDir: dir, hostname: 'localhost' });
    const users: string[] = [];
    try {
      await withServer({
        secure: true, key: tls.key, cert: tls.cert, disabledCommands: [],
        onAuth(auth, _s, cb) { users.push(`${auth.method} ${auth.username}`); cb(null, { user: auth.username }); },
      }, async (port) => {
        const relay = relayTo(port, { secure: true, user: 'relay', pass: 'secret' });
        const msg = 'Subject: tls\r\n\r\nhi\r\n';
        const r = await relay.send(entry(msg.length), ['u@example.com'], () => Readable.from([Buffer.from(msg)]));
        await relay.close();
        assert.ok(r[0].ok, r[0].reply);
        assert.deepEqual(users, ['PLAIN relay']);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [what, answer, reason] of [
    ['a reply line that never ends', (sock: net.Socket) => { const chunk = 'x'.repeat(16 * 1024); const t = setInterval(() => { if (!sock.write(chunk)) clearInterval(t); }, 1); sock.on('close', () => clearInterval(t)); }, 'a line of more than 65536 bytes'],
    ['endless continuation lines', (sock: net.Socket) => { const t = setInterval(() => sock.write('250-more\r\n'.repeat(200)), 1); sock.on('close', () => clearInterval(t)); }, 'more than 1000 lines'],
  ] as const) {
    it(`gives up with a temporary failure on a server that greets with ${what}`, async () => {
      // The client buffered such a reply without end, and searched all of it again for a line end at every chunk.
      const server = net.createServer((sock) => { sock.on('error', () => {}); sock.write('220-hostile.example\r\n'); answer(sock); });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as net.AddressInfo).port;
      try {
        const relay = relayTo(port);
        const [r] = await relay.send(entry(10), ['a@example.com'], () => Readable.from([Buffer.from('hi\r\n')]));
        await relay.close();
        assert.equal(r.ok, false);
        assert.equal(r.permanent, false);
        assert.equal(r.reply, `127.0.0.1 sent a reply with ${reason}`);
      } finally {
        server.close();
      }
    });
  }

  it('discards replies that arrived in plaintext after the 220 to STARTTLS (injection by a man in the middle)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-client-starttls-'));
    const keys = loadTls({ dataDir: dir, hostname: 'localhost' });
    // Speaks SMTP line by line on `sock`; STARTTLS is answered with an injected reply in the same packet.
    const serve = (sock: net.Socket, secure: boolean) => {
      let buf = '';
      let inData = false;
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (inData) { if (line === '.') { inData = false; sock.write('250 delivered for real\r\n'); } continue; }
          const verb = line.split(' ')[0].toUpperCase();
          if (verb === 'EHLO') sock.write(secure ? '250-tls.test\r\n250 PIPELINING\r\n' : '250-plain.test\r\n250 STARTTLS\r\n');
          else if (verb === 'STARTTLS') {
            sock.removeAllListeners('data');
            sock.write('220 go ahead\r\n250 injected\r\n', () => {
              const t = new TLSSocket(sock, { isServer: true, key: keys.key, cert: keys.cert });
              t.on('error', () => {});
              serve(t, true);
            });
            return;
          } else if (verb === 'DATA') { inData = true; sock.write('354 go\r\n'); }
          else if (verb === 'QUIT') sock.end('221 bye\r\n');
          else sock.write('250 ok\r\n');
        }
      });
    };
    const server = net.createServer((sock) => { sock.on('error', () => {}); sock.write('220 plain.test ESMTP\r\n'); serve(sock, false); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const relay = relayTo((server.address() as net.AddressInfo).port, { starttls: 'required' });
      const [r] = await relay.send(entry(10), ['a@example.com'], () => Readable.from([Buffer.from('hi\r\n')]));
      await relay.close();
      assert.equal(r.reply, '250 delivered for real');
      assert.ok(r.ok);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works with a server that offers no PIPELINING, one command at a time', async () => {
    const seen: string[] = [];
    await withServer({
      hidePIPELINING: true,
      onMailFrom(a, _s, cb) { seen.push(`MAIL ${a.address}`); cb(); },
      onRcptTo(a, _s, cb) {
        seen.push(`RCPT ${a.address}`);
        if (a.address.startsWith('no')) { const e = new Error('5.1.1 no such user') as Error & { responseCode: number }; e.responseCode = 550; return cb(e); }
        cb();
      },
    }, async (port) => {
      const relay = relayTo(port);
      const msg = 'Subject: one by one\r\n\r\nhi\r\n';
      const all = await relay.send(entry(msg.length), ['yes@example.com', 'no@example.com'], () => Readable.from([Buffer.from(msg)]));
      const none = await relay.send(entry(msg.length), ['no1@example.com'], () => Readable.from([Buffer.from(msg)]));
      await relay.close();
      assert.deepEqual(all.map((x) => x.ok), [true, false]);
      assert.deepEqual(none.map((x) => [x.ok, x.permanent]), [[false, true]]);
      assert.deepEqual(seen, ['MAIL a@client.example', 'RCPT yes@example.com', 'RCPT no@example.com', 'MAIL a@client.example', 'RCPT no1@example.com']);
    });
  });
});

describe('relay client: xtext for DSN parameters', () => {
  it('escapes +, =, space, controls and non-ASCII octets as +XX and keeps the rest (RFC 3461 §4)', () => {
    assert.equal(xtext('QQ+1=x y'), 'QQ+2B1+3Dx+20y');
    assert.equal(xtext('a\tb'), 'a+09b');
    assert.equal(xtext('café'), 'caf+C3+A9');
    assert.equal(xtext('<id.1@host>'), '<id.1@host>');
  });
});
