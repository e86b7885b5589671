// limits.max_connections_per_ip counts connections open from the client's side: one the gateway has closed (the
// client has read its FIN) no longer counts, so a client that reconnects right then, as Postfix does with its own
// concurrency limit set to ours, is not refused for a connection it no longer has (core/smtp/connection-limits.ts).
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const PER_IP = 3;
const ROUNDS = 50;

/** A raw client connection: the reply codes as they come, and whether the gateway has ended its side. */
class RawClient {
  readonly codes: number[] = [];
  private readonly socket: net.Socket;
  private buffer = '';
  private wake = () => {};
  private serverEnded = false;
  private closed = false;
  /** Replies read so far. */
  private read = 0;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.buffer += d.toString('latin1'); this.parse(); });
    socket.on('end', () => { this.serverEnded = true; this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => {});
  }

  static open(port: number, opts: { tls?: boolean } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ready = () => { s.removeListener('error', reject); resolve(new RawClient(s)); };
      const s = opts.tls
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, ready)
        : net.connect({ port, host: '127.0.0.1' }, ready);
      s.once('error', reject);
    });
  }

  /** Writes bytes as they are (no CRLF added). */
  write(data: string): void { this.socket.write(data); }

  private parse(): void {
    for (let i = this.buffer.indexOf('\r\n'); i >= 0; i = this.buffer.indexOf('\r\n')) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      if (/^\d{3}( |$)/.test(line)) this.codes.push(Number(line.slice(0, 3)));
    }
    this.wake();
  }

  private until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => { if (done()) { this.wake = () => {}; resolve(); } };
      this.wake = check;
      check();
    });
  }

  /** The next reply not read yet, its code; undefined when the gateway closed the connection first. */
  async reply(): Promise<number | undefined> {
    await this.until(() => this.codes.length > this.read || this.serverEnded || this.closed);
    return this.codes.length > this.read ? this.codes[this.read++] : undefined;
  }

  async command(line: string): Promise<number | undefined> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Resolves once the gateway has ended its side of the connection (its FIN reached us). */
  async serverClosed(): Promise<void> { await this.until(() => this.serverEnded || this.closed); }

  destroy(): void { this.socket.destroy(); }
}

describe('connections counted until the client sees them closed', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const refusalLines = () => gw.logs.filter((l) => l.msg === 'client refused: connection limit');

  before(async () => {
    gw = await startGateway({
      config: {
        // 127.0.0.1 as a client of its own, not as a trusted proxy (whose connections have no per-address cap).
        server: { trusted_proxies: [], greeting_delay: 0, tls_listen: ['127.0.0.1:0'] },
        limits: { max_connections_per_ip: PER_IP },
      },
    });
  });
  after(() => gw.stop());

  const count = () => gw.gateway.runtime.connections.count;
  const smtpsPort = () => gw.gateway.listeners.find((l) => l.kind === 'smtps')!.port;

  /** Connect, EHLO, QUIT, wait for the gateway to close; returns the codes of the greeting, EHLO and QUIT. */
  async function round(opts: { tls?: boolean } = {}): Promise<number[]> {
    const c = await RawClient.open(opts.tls ? smtpsPort() : gw.port, opts);
    try {
      const greeting = await c.reply();
      if (greeting !== 220) { await c.serverClosed(); return [greeting ?? 0]; }
      const ehlo = await c.command('EHLO client.test');
      const quit = await c.command('QUIT');
      await c.serverClosed();
      return [greeting, ehlo ?? 0, quit ?? 0];
    } finally { c.destroy(); }
  }

  /** `PER_IP` loops of `rounds` rounds each, at most `PER_IP` connections open at once; returns every round's codes. */
  async function loops(rounds: number, opts: { tls?: boolean } = {}): Promise<number[][]> {
    const loop = async () => {
      const out: number[][] = [];
      for (let i = 0; i < rounds; i++) out.push(await round(opts));
      return out;
    };
    return (await Promise.all(Array.from({ length: PER_IP }, loop))).flat();
  }

  function assertNoneRefused(all: number[][], rounds: number): void {
    const refused = all.filter((codes) => codes[0] !== 220);
    assert.equal(refused.length, 0, `refused: ${JSON.stringify(refused.slice(0, 5))}, log: ${JSON.stringify(refusalLines().slice(0, 2))}`);
    assert.equal(all.length, PER_IP * rounds);
    assert.ok(all.every((codes) => codes[1] === 250 && codes[2] === 221), 'every session went through EHLO and QUIT');
  }

  it(`lets ${PER_IP} loops reconnect as soon as each connection is closed, ${ROUNDS} rounds each, without a 421`, async () => {
    assertNoneRefused(await loops(ROUNDS), ROUNDS);
    await waitUntil('every connection to be counted down', () => count() === 0);
  });

  it('does the same on the implicit-TLS port, counted from the accept', async () => {
    assertNoneRefused(await loops(20, { tls: true }), 20);
    await waitUntil('every connection to be counted down', () => count() === 0);
  });

  it(`still refuses a connection past ${PER_IP} open at once with 421`, async () => {
    const held: RawClient[] = [];
    try {
      for (let i = 0; i < PER_IP; i++) {
        const c = await RawClient.open(gw.port);
        held.push(c);
        assert.equal(await c.reply(), 220);
      }
      const extra = await RawClient.open(gw.port);
      held.push(extra);
      assert.equal(await extra.reply(), 421);
      await extra.serverClosed();
      assert.equal(gw.gateway.runtime.connections.count, PER_IP, 'the refused one was never counted');
    } finally { for (const c of held) c.destroy(); }
    await waitUntil('the held connections to be counted down', () => gw.gateway.runtime.connections.count === 0);
  });

  it('counts each connection down once however it ends', async () => {
    // The client resets the connection in the middle of a session.
    const reset = await RawClient.open(gw.port);
    assert.equal(await reset.reply(), 220);
    assert.equal(await reset.command('EHLO client.test'), 250);
    reset.destroy();
    // STARTTLS answered, then no handshake but junk: the TLS session fails.
    const badTls = await RawClient.open(gw.port);
    assert.equal(await badTls.reply(), 220);
    assert.equal(await badTls.command('EHLO client.test'), 250);
    assert.equal(await badTls.command('STARTTLS'), 220);
    badTls.write('this is not a TLS handshake\r\n');
    await badTls.serverClosed();
    badTls.destroy();
    // Junk on the implicit-TLS port: counted from the accept, before any session exists.
    const junk = await RawClient.open(smtpsPort());
    junk.write('EHLO client.test\r\n');
    await junk.serverClosed();
    junk.destroy();
    await waitUntil(() => `every connection to be counted down (${count()} still counted)`, () => count() === 0);
    // Had any been taken off twice, the count would let more than PER_IP in now.
    const held: RawClient[] = [];
    try {
      for (let i = 0; i <= PER_IP; i++) {
        const c = await RawClient.open(gw.port);
        held.push(c);
      }
      const codes = await Promise.all(held.map((c) => c.reply()));
      assert.deepEqual([...codes].sort(), [220, 220, 220, 421]);
    } finally { for (const c of held) c.destroy(); }
    await waitUntil('the held connections to be counted down', () => count() === 0);
  });
});
