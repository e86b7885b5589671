// A minimal raw SMTP client for the spf/dmarc end-to-end tests: one command, one (multi-line) reply.
import net from 'node:net';

export interface Reply { code: number; text: string }

export class SmtpClient {
  private readonly socket: net.Socket;
  private buffer = '';
  private waiters: Array<(r: Reply) => void> = [];
  private replies: Reply[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => { this.buffer += chunk; this.drain(); });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<{ client: SmtpClient; greeting: Reply }> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const client = new SmtpClient(socket);
    return { client, greeting: await client.read() };
  }

  private drain(): void {
    for (;;) {
      const lines = this.buffer.split('\r\n');
      const end = lines.findIndex((l) => /^\d{3} /.test(l) || /^\d{3}$/.test(l));
      if (end < 0 || end === lines.length - 1) return;
      const block = lines.slice(0, end + 1);
      this.buffer = lines.slice(end + 1).join('\r\n');
      const reply = { code: Number(block[end].slice(0, 3)), text: block.map((l) => l.slice(4)).join('\n') };
      const w = this.waiters.shift();
      if (w) w(reply); else this.replies.push(reply);
    }
  }

  read(timeoutMs = 10_000): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SMTP reply in time')), timeoutMs);
      this.waiters.push((r) => { clearTimeout(timer); resolve(r); });
    });
  }

  async send(line: string): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.read();
  }

  /** Sends DATA, then the message dot-stuffed, and returns the final reply (or the refusal of DATA). */
  async data(raw: Buffer): Promise<Reply> {
    const go = await this.send('DATA');
    if (go.code !== 354) return go;
    const body = raw.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.socket.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    return this.read();
  }

  async close(): Promise<void> {
    this.socket.end('QUIT\r\n');
    await new Promise((resolve) => { this.socket.once('close', resolve); setTimeout(resolve, 500).unref(); });
    this.socket.destroy();
  }
}
