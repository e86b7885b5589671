// The relay client against scripted SMTP servers on loopback, replying the way real (and broken) servers do:
// what Postfix's smtp client would do is the bar — temporary trouble retried, 5xx bounced per recipient, nothing lost.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Readable } from 'node:stream';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import { MxRelay } from '../../../core/relay/mx-relay.ts';
import { RouteTable } from '../../../core/relay/routes.ts';
import { createResolver } from '../../../core/dns/index.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';

function entry(size: number, mailFrom = 'a@client.example'): QueueEntry {
  return {
    id: 'audit', mailFrom, recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size,
    client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

const MSG = 'Subject: audit\r\n\r\nhello\r\n';
const body = (text = MSG) => () => Readable.from([Buffer.from(text)]);

/** What a scripted server does; every hook may answer a line (CRLF added) or act on the socket itself. */
interface Script {
  /** The greeting line; `null` closes the connection right after accepting it. */
  greeting?: string | null;
  /** EHLO extension lines after the first. */
  extensions?: string[];
  /** The reply to one envelope command (MAIL, RCPT, RSET…); undefined means 250. */
  command?(line: string, session: Session): string | undefined;
  /** The reply after the final dot; `null` never answers. */
  dataDone?(text: string, session: Session): string | null;
  /** Called with each raw chunk while in DATA (to hang up mid-body). */
  onBodyChunk?(sock: net.Socket, received: number): void;
}

interface Session { sock: net.Socket; rcpts: string[]; index: number }

interface Scripted {
  port: number;
  /** Every command line received, over all connections. */
  lines: string[];
  /** Each message accepted: recipients and body text. */
  delivered: Array<{ rcpts: string[]; text: string }>;
  /** How many commands arrived together in one TCP chunk, the largest seen. */
  maxBatch: number;
  connections: number;
  stop(): Promise<void>;
}

async function scriptedServer(script: Script): Promise<Scripted> {
  const state: Scripted = { port: 0, lines: [], delivered: [], maxBatch: 0, connections: 0, stop: async () => {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    const session: Session = { sock, rcpts: [], index: state.connections++ };
    if (script.greeting === null) { sock.end(); return; }
    sock.write(`${script.greeting ?? '220 scripted.test ESMTP'}\r\n`);
    let buf = '';
    let inData = false;
    let bodyBytes = 0;
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (inData) {
        bodyBytes += d.length;
        script.onBodyChunk?.(sock, bodyBytes);
        const end = buf.indexOf('\r\n.\r\n');
        if (end < 0) return;
        const text = buf.slice(0, end + 2);
        buf = buf.slice(end + 5);
        inData = false;
        const reply = script.dataDone ? script.dataDone(text, session) : '250 2.0.0 queued';
        if (reply === null) return;
        if (reply.startsWith('2')) state.delivered.push({ rcpts: [...session.rcpts], text });
        session.rcpts = [];
        sock.write(`${reply}\r\n`);
        return;
      }
      const lines = buf.split('\r\n');
      buf = lines.pop()!;
      state.maxBatch = Math.max(state.maxBatch, lines.length);
      for (const line of lines) {
        state.lines.push(line);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') { sock.write(['250-scripted.test', ...(script.extensions ?? [])].map((l, i, all) => `${i === all.length - 1 ? l.replace(/^250-/, '250 ') : l}\r\n`).join('')); continue; }
        if (verb === 'QUIT') { sock.end('221 bye\r\n'); return; }
        const reply = script.command?.(line, session) ?? (verb === 'DATA' ? '354 go ahead' : '250 ok');
        if (verb === 'MAIL' || verb === 'RSET') session.rcpts = [];
        if (verb === 'RCPT' && reply.startsWith('2')) session.rcpts.push(/<(.*)>/.exec(line)![1]);
        if (verb === 'DATA' && reply.startsWith('354')) { inData = true; bodyBytes = 0; sock.write(`${reply}\r\n`); continue; }
        if (reply) sock.write(`${reply}\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.port = (server.address() as net.AddressInfo).port;
  state.stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}

function relayTo(port: number, timeout = 5000, connections = 2): SmtpRelay {
  return new SmtpRelay({ host: '127.0.0.1', port, secure: false, starttls: 'off', tlsVerify: false, connections, timeout, dataDoneTimeout: timeout, display: `smtp://127.0.0.1:${port}` }, 'relay.test');
}

/** Runs `use` with a relay to a scripted server, then closes both. */
async function withScript(script: Script, use: (relay: SmtpRelay, srv: Scripted) => Promise<void>, timeout = 5000): Promise<void> {
  const srv = await scriptedServer(script);
  const relay = relayTo(srv.port, timeout);
  try { await use(relay, srv); } finally { await relay.close(); await srv.stop(); }
}

const PIPE = ['250-PIPELINING', '250-8BITMIME'];

describe('relay audit: scripted SMTP servers', function () {
  this.timeout(10_000);

  it('a 421 greeting or a close right after it is a temporary host failure', async () => {
    for (const greeting of ['421 4.3.2 busy, try later', null]) {
      await withScript({ greeting }, async (relay) => {
        const [r] = await relay.send(entry(MSG.length), ['u@example.com'], body());
        assert.deepEqual([r.ok, r.permanent, r.hostFailure], [false, false, true], r.reply);
      });
    }
  });

  it('sends the recipients refused with 452 (too many) in a following transaction, not later', async () => {
    const rcpts = ['r1@example.com', 'r2@example.com', 'r3@example.com', 'r4@example.com', 'r5@example.com'];
    await withScript({
      extensions: PIPE,
      command: (line, s) => (line.startsWith('RCPT') && s.rcpts.length >= 2 ? '452 4.5.3 too many recipients' : undefined),
    }, async (relay, srv) => {
      const r = await relay.send(entry(MSG.length), rcpts, body());
      assert.deepEqual(r.map((x) => x.ok), [true, true, true, true, true], r.map((x) => x.reply).join('; '));
      assert.deepEqual(srv.delivered.map((d) => d.rcpts.length), [2, 2, 1]);
    });
  });

  it('a 554 after the final dot bounces only the recipients the server had accepted', async () => {
    await withScript({
      command: (line) => (line.includes('later@') ? '451 4.2.0 later' : undefined),
      dataDone: () => '554 5.6.0 content refused',
    }, async (relay) => {
      const r = await relay.send(entry(MSG.length), ['u@example.com', 'later@example.com'], body());
      assert.deepEqual(r.map((x) => [x.ok, x.permanent]), [[false, true], [false, false]]);
      assert.match(r[0].reply, /^554 /);
    });
  });

  it('reads a multi-line reply split across packets, with lines ended by LF alone', async () => {
    const srv = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.write('220-split\n220 ');
      setTimeout(() => sock.write('ready\r\n'), 20);
      let buf = '';
      let inData = false;
      sock.on('data', (d) => {
        buf += d.toString();
        for (let i; (i = buf.indexOf(inData ? '\r\n.\r\n' : '\r\n')) >= 0;) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + (inData ? 5 : 2));
          if (inData) { inData = false; sock.write('250 ok\n'); continue; }
          if (line.startsWith('EHLO')) { sock.write('250-split\n250-PIPE'); setTimeout(() => sock.write('LINING\n250 SIZE 1000000\n'), 20); } else if (line.startsWith('DATA')) { inData = true; sock.write('354 go\n'); } else sock.write('250 ok\n');
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const relay = relayTo((srv.address() as net.AddressInfo).port);
    try {
      const [r] = await relay.send(entry(MSG.length), ['u@example.com'], body());
      assert.ok(r.ok, r.reply);
    } finally { await relay.close(); await new Promise((r) => srv.close(r)); }
  });

  it('a server that never answers the final dot times out: temporary, kept for a retry', async () => {
    await withScript({ dataDone: () => null }, async (relay) => {
      const [r] = await relay.send(entry(MSG.length), ['u@example.com'], body());
      assert.deepEqual([r.ok, r.permanent], [false, false]);
      assert.match(r.reply, /no answer/);
    }, 400);
  });

  it('a server that hangs up in the middle of the body is a temporary failure', async () => {
    const big = `Subject: big\r\n\r\n${'x'.repeat(998)}\r\n`.repeat(300);
    await withScript({ onBodyChunk: (sock, n) => { if (n > 10_000) sock.destroy(); } }, async (relay) => {
      const [r] = await relay.send(entry(big.length), ['u@example.com'], body(big));
      assert.deepEqual([r.ok, r.permanent], [false, false]);
    });
  });

  it('without PIPELINING sends one command per packet', async () => {
    await withScript({}, async (relay, srv) => {
      const r = await relay.send(entry(MSG.length), ['u@example.com', 'v@example.com'], body());
      assert.ok(r.every((x) => x.ok));
      assert.equal(srv.maxBatch, 1);
    });
  });

  it('a message larger than the announced SIZE is refused permanently without being sent', async () => {
    await withScript({ extensions: ['250-PIPELINING', '250-SIZE 100'] }, async (relay, srv) => {
      const text = `Subject: big\r\n\r\n${'y'.repeat(500)}\r\n`;
      const [r] = await relay.send(entry(text.length), ['u@example.com'], body(text));
      assert.deepEqual([r.ok, r.permanent], [false, true], r.reply);
      assert.match(r.reply, /^552 5\.3\.4/);
      assert.ok(!srv.lines.some((l) => l.startsWith('MAIL')), 'no transaction was started');
    });
  });

  it('asks for BODY=8BITMIME from a server that offers it', async () => {
    await withScript({ extensions: PIPE }, async (relay, srv) => {
      const text = 'Subject: caf\xe9\r\n\r\nna\xefve\r\n';
      const [r] = await relay.send(entry(text.length), ['u@example.com'], () => Readable.from([Buffer.from(text, 'latin1')]));
      assert.ok(r.ok, r.reply);
      assert.match(srv.lines.find((l) => l.startsWith('MAIL'))!, / BODY=8BITMIME/);
    });
  });

  it('never sends an address beyond ASCII to a server without SMTPUTF8: that recipient bounces, the rest go', async () => {
    await withScript({ extensions: PIPE }, async (relay, srv) => {
      const r = await relay.send(entry(MSG.length), ['jörg@example.com', 'joe@example.com'], body());
      assert.deepEqual(r.map((x) => [x.ok, x.permanent]), [[false, true], [true, false]]);
      assert.match(r[0].reply, /^553 5\.6\.7/);
      assert.deepEqual(srv.delivered.map((d) => d.rcpts), [['joe@example.com']]);
      const fromUtf8 = await relay.send(entry(MSG.length, 'müller@client.example'), ['joe@example.com'], body());
      assert.deepEqual(fromUtf8.map((x) => [x.ok, x.permanent]), [[false, true]]);
      assert.ok(!srv.lines.some((l) => /[^\x00-\x7f]/.test(l)), 'no line beyond ASCII was sent');
    });
  });

  it('a pooled connection left after a refused transaction and dropped while idle is replaced, not a failed attempt', async () => {
    // The first transaction ends refused, so the next one on that connection starts with RSET.
    const sockets: net.Socket[] = [];
    const srv = await scriptedServer({ command: (line, s) => { sockets.push(s.sock); return line.includes('nobody@') ? '550 5.1.1 no such user' : undefined; } });
    const relay = relayTo(srv.port, 5000, 1);
    try {
      await relay.send(entry(MSG.length), ['nobody@example.com'], body());
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const [r] = await relay.send(entry(MSG.length), ['u@example.com'], body());
      assert.ok(r.ok, r.reply);
      assert.equal(srv.connections, 2);
    } finally { await relay.close(); await srv.stop(); }
  });

  it('a 250 to DATA (no 354, no body sent) is not taken for delivery', async () => {
    await withScript({ command: (line) => (line.startsWith('DATA') ? '250 2.0.0 fine' : undefined) }, async (relay, srv) => {
      const [r] = await relay.send(entry(MSG.length), ['u@example.com'], body());
      assert.deepEqual([r.ok, r.permanent], [false, false], r.reply);
      assert.equal(srv.delivered.length, 0);
    });
  });

  it('a pooled connection whose server says 421 to the RSET is replaced at once, the message delivered', async () => {
    await withScript({
      command: (line, s) => {
        if (line.startsWith('RSET')) { s.sock.end('421 4.4.2 idle too long\r\n'); return ''; }
        return line.includes('nobody@') ? '550 5.1.1 no such user' : undefined;
      },
    }, async (relay, srv) => {
      const [first] = await relay.send(entry(MSG.length), ['nobody@example.com'], body());
      assert.equal(first.permanent, true);
      const [r] = await relay.send(entry(MSG.length), ['u@example.com'], body());
      assert.ok(r.ok, r.reply);
      assert.equal(srv.connections, 2);
    });
  });

  it('many messages through a pool of one connection all arrive, one connection at a time', async () => {
    await withScript({ extensions: PIPE }, async (relay, srv) => {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => relay.send(entry(MSG.length), [`u${i}@example.com`], body())));
      assert.ok(rs.flat().every((x) => x.ok));
      assert.equal(srv.delivered.length, 20);
      assert.ok(srv.connections <= 2, `${srv.connections} connections`);
    });
  });
});

describe('relay audit: MX delivery', function () {
  this.timeout(15_000);
  let dns: DnsTestServer;
  let srv: Scripted;

  before(async () => {
    srv = await scriptedServer({ extensions: PIPE });
    dns = await startDnsServer({
      zones: {
        'cname.test': { '@': { MX: [{ priority: 10, exchange: 'alias.cname.test' }] }, alias: { CNAME: 'real.cname.test' }, real: { A: ['127.0.0.1'] } },
        'noaddr.test': { '@': { MX: [{ priority: 10, exchange: 'mx.noaddr.test' }] }, mx: { TXT: ['no address here'] } },
        'twohosts.test': { '@': { MX: [{ priority: 10, exchange: 'a.twohosts.test' }, { priority: 20, exchange: 'b.twohosts.test' }] }, a: { A: ['127.0.0.9'] }, b: { A: ['127.0.0.1'] } },
        'nullmx.test': { '@': { MX: [{ priority: 0, exchange: '.' }] } },
      },
    });
  });
  after(async () => { await dns.stop(); await srv.stop(); });

  const mxRelay = () => new MxRelay(createResolver({ servers: [dns.address], timeout: 1000, tries: 1 }), 'relay.test',
    new RouteTable({ '*': { via: 'mx', port: srv.port, starttls: 'off', timeout: 2000 } as never }).lookup('any.test'), 2);

  it('follows an MX host that is a CNAME, passes a host that refuses connections, bounces null MX and an MX without address', async () => {
    const relay = mxRelay();
    try {
      const [viaCname] = await relay.send(entry(MSG.length), ['u@cname.test'], body());
      assert.ok(viaCname.ok, viaCname.reply);
      const [second] = await relay.send(entry(MSG.length), ['u@twohosts.test'], body());
      assert.ok(second.ok, second.reply);
      const [nullMx] = await relay.send(entry(MSG.length), ['u@nullmx.test'], body());
      assert.deepEqual([nullMx.ok, nullMx.permanent], [false, true], nullMx.reply);
      const [noAddr] = await relay.send(entry(MSG.length), ['u@noaddr.test'], body());
      assert.deepEqual([noAddr.ok, noAddr.permanent], [false, true], noAddr.reply);
    } finally { await relay.close(); }
  });
});
