// The load generator: N connections, each sending its share of messages with pipelined MAIL/RCPT/DATA; times every message to its 250.
import net from 'node:net';
import { percentile } from '../../../core/metrics.ts';

export interface LoadResult { sent: number; failed: number; seconds: number; msgsPerSec: number; p50: number; p99: number; firstError?: string }

export function makeMessage(size: number): Buffer {
  const head = `From: bench@client.example\r\nTo: user@bench.example\r\nSubject: benchmark message\r\nMessage-ID: <bench@client.example>\r\nDate: ${new Date().toUTCString()}\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog; benchmark filler text 0123456789.\r\n';
  let body = '';
  while (head.length + body.length + line.length < size) body += line;
  return Buffer.from(head + body + '.\r\n', 'latin1');
}

class Conn {
  private buf = '';
  private wait?: (lines: string[]) => void;
  private need = 0;
  private got: string[] = [];
  private closed = false;
  private fail?: (e: Error) => void;
  readonly sock: net.Socket;
  constructor(sock: net.Socket) {
    this.sock = sock;
    sock.on('close', () => { this.closed = true; this.fail?.(new Error('connection closed')); });
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let i;
      while ((i = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        if (line[3] === '-') continue;
        this.got.push(line);
        if (this.got.length >= this.need && this.wait) { const w = this.wait; this.wait = undefined; const g = this.got; this.got = []; w(g); }
      }
    });
  }
  replies(n: number): Promise<string[]> {
    this.need = n;
    if (this.got.length >= n) { const g = this.got; this.got = []; return Promise.resolve(g); }
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((r, reject) => { this.wait = r; this.fail = reject; });
  }
}

/** Sends `total` messages over `connections` connections to host:port; returns throughput and latency to 250. */
export async function runLoad(port: number, opts: { total: number; connections: number; message: Buffer; rcpt?: string }): Promise<LoadResult> {
  const lat: number[] = [];
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const rcpt = opts.rcpt ?? 'user@bench.example';
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < opts.total) {
      const sock = net.connect(port, '127.0.0.1');
      const c = new Conn(sock);
      try {
        await c.replies(1);
        sock.write('EHLO loadgen.example\r\n');
        await c.replies(1);
        let perConn = 0;
        while (next < opts.total && perConn < 100) {
          next++; perConn++;
          const t0 = process.hrtime.bigint();
          sock.write(`MAIL FROM:<bench@client.example>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
          const r = await c.replies(3);
          if (!r[2].startsWith('354')) { failed++; firstError ??= r.join(' | '); sock.write('RSET\r\n'); await c.replies(1); continue; }
          sock.write(opts.message);
          const [end] = await c.replies(1);
          if (end.startsWith('250')) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
          else { failed++; firstError ??= end; }
        }
        sock.write('QUIT\r\n');
        sock.end();
      } catch (e) {
        failed++; firstError ??= String(e);
        sock.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  lat.sort((a, b) => a - b);
  return {
    sent: lat.length, failed, seconds, msgsPerSec: lat.length / seconds,
    p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), firstError,
  };
}
