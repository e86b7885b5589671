// A raw SMTP client for tests: send any command (XCLIENT, pipelined batches, malformed input) and read whole replies.
import net from 'node:net';
import tls from 'node:tls';

export interface SmtpReply { code: number; lines: string[]; text: string }

export class SmtpDialog {
  private socket: net.Socket;
  private buffer = '';
  private readonly replies: SmtpReply[] = [];
  private waiter?: () => void;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.attach();
  }

  private attach(): void {
    this.socket.on('data', (d: Buffer) => { this.buffer += d.toString('latin1'); this.parse(); });
    this.socket.on('close', () => { this.closed = true; this.waiter?.(); });
    this.socket.on('error', () => { this.closed = true; this.waiter?.(); });
  }

  static connect(port: number, host = '127.0.0.1', opts: { localAddress?: string; tls?: boolean } = {}): Promise<SmtpDialog> {
    return new Promise((resolve, reject) => {
      const s = opts.tls
        ? tls.connect({ port, host, rejectUnauthorized: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) } as tls.ConnectionOptions, () => resolve(new SmtpDialog(s)))
        : net.connect({ port, host, localAddress: opts.localAddress }, () => resolve(new SmtpDialog(s)));
      s.once('error', reject);
    });
  }

  private parse(): void {
    let lines: string[] = [];
    for (;;) {
      const i = this.buffer.indexOf('\r\n');
      if (i < 0) break;
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      lines.push(line);
      if (/^\d{3} /.test(line) || /^\d{3}$/.test(line)) {
        const code = Number(line.slice(0, 3));
        const texts = lines.map((l) => l.slice(4));
        this.replies.push({ code, lines: texts, text: texts.join('\n') });
        lines = [];
        this.waiter?.();
      }
    }
    if (lines.length) this.buffer = lines.join('\r\n') + '\r\n' + this.buffer;
  }

  /** The next reply (waits up to `timeoutMs`); throws if the connection closed first. */
  async read(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('timed out waiting for a reply');
      await new Promise<void>((r) => { this.waiter = r; setTimeout(r, 100); });
    }
    return this.replies.shift()!;
  }

  /** Writes raw bytes (no CRLF added). */
  write(data: string | Buffer): void { this.socket.write(data); }

  /** Sends one command line and returns its reply. */
  async cmd(line: string): Promise<SmtpReply> {
    this.socket.write(line + '\r\n');
    return this.read();
  }

  /** Upgrades with STARTTLS (the 220 must already be read). */
  async starttls(): Promise<SmtpReply> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) return r;
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('close');
    const secured = tls.connect({ socket: this.socket, rejectUnauthorized: false });
    await new Promise<void>((res, rej) => { secured.once('secureConnect', () => res()); secured.once('error', rej); });
    this.socket = secured;
    this.buffer = '';
    this.attach();
    return r;
  }

  /** Sends DATA, the message (dot-stuffed here unless `raw`), and the final dot; returns the reply after the dot. */
  async data(message: string | Buffer, opts: { raw?: boolean } = {}): Promise<SmtpReply> {
    const r = await this.cmd('DATA');
    if (r.code !== 354) return r;
    let body = Buffer.isBuffer(message) ? message : Buffer.from(message, 'latin1');
    if (!opts.raw) {
      body = Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
      if (!body.toString('latin1').endsWith('\r\n')) body = Buffer.concat([body, Buffer.from('\r\n')]);
      body = Buffer.concat([body, Buffer.from('.\r\n')]);
    }
    this.socket.write(body);
    return this.read(30_000);
  }

  /** Greeting, EHLO, optional XCLIENT (then its greeting and a new EHLO). */
  async hello(opts: { helo?: string; xclient?: { addr: string; name?: string; helo?: string } } = {}): Promise<SmtpReply> {
    const greet = await this.read();
    if (greet.code !== 220) return greet;
    let r = await this.cmd(`EHLO ${opts.helo ?? 'client.test'}`);
    if (opts.xclient) {
      const x = opts.xclient;
      const parts = [`ADDR=${x.addr}`, `NAME=${x.name ?? '[UNAVAILABLE]'}`];
      if (x.helo) parts.push(`HELO=${x.helo}`);
      const xr = await this.cmd(`XCLIENT ${parts.join(' ')}`);
      if (xr.code !== 220) return xr;
      r = await this.cmd(`EHLO ${opts.xclient.helo ?? opts.helo ?? 'client.test'}`);
    }
    return r;
  }

  /** Drops the connection without a word, wherever the dialog is. */
  hangUp(): void { this.socket.destroy(); }

  async quit(): Promise<void> {
    if (!this.closed) { try { this.socket.write('QUIT\r\n'); } catch { /* closed */ } }
    this.socket.end();
  }
}

/** Connects, reads the greeting (220) and says EHLO; returns the dialog and the EHLO reply's lines. */
export async function greeted(port: number, name = 'client.test'): Promise<{ d: SmtpDialog; ehlo: string[] }> {
  const d = await SmtpDialog.connect(port);
  const r = await d.hello({ helo: name });
  if (r.code !== 250) throw new Error(`EHLO answered ${r.code} ${r.text}`);
  return { d, ehlo: r.lines };
}

/** A small RFC 5322 message with CRLF line ends. */
export function testMessage(opts: { from?: string; to?: string; subject?: string; body?: string; headers?: Record<string, string> } = {}): string {
  const h = {
    From: opts.from ?? 'sender@client.example', To: opts.to ?? 'user@example.com', Subject: opts.subject ?? 'test',
    Date: new Date().toUTCString(), 'Message-ID': `<${Math.random().toString(36).slice(2)}@client.example>`, ...opts.headers,
  };
  return Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n') + '\r\n\r\n' + (opts.body ?? 'Hello.\r\n');
}
