// A small clamd client: PING, VERSION and INSTREAM over a fresh unix or TCP socket per call.
//
// Written instead of using the `clamscan` package (see README): we need a connect timeout apart from a
// whole-scan deadline, backpressure while streaming (so a slow clamd never makes the message pile up in
// memory), and errors that say which failure happened instead of console output.
import net from 'node:net';
import type { Readable } from 'node:stream';
import { ScanError, type ScanResult } from './scan-result.ts';

export type ClamdTarget = { socket: string } | { host: string; port: number };

export interface ClamdOptions {
  target: ClamdTarget;
  /** Milliseconds to wait for the connection. */
  connectTimeout: number;
  /** Milliseconds from connection to the complete reply. */
  scanTimeout: number;
  /** Largest INSTREAM chunk sent at once; clamd's StreamMaxLength is counted over all chunks. */
  chunkSize?: number;
}


export interface ClamdVersion {
  /** e.g. `ClamAV 1.4.6` */
  engine: string;
  /** Signature database version, when clamd reports one. */
  signatures?: number;
  /** Date of the signature database as clamd reports it. */
  signatureDate?: string;
  raw: string;
}

const END_OF_STREAM = Buffer.alloc(4);

/** Whether the request is still being written, for telling a size-limit close from other failures. */
interface SendState { streaming: boolean; sent: number }

function describe(target: ClamdTarget): string {
  return 'socket' in target ? `unix:${target.socket}` : `${target.host}:${target.port}`;
}

/** Parses one clamd reply line (`stream: OK`, `stream: Name FOUND`, `... ERROR`). */
export function parseScanReply(reply: string): ScanResult {
  const text = reply.replace(/\0+$/, '').trim();
  if (/:\s*OK$/.test(text)) return { infected: false };
  const found = [...text.matchAll(/:\s*(.+?)\s+FOUND$/gm)].map((m) => m[1]);
  if (found.length) return { infected: true, viruses: [...new Set(found)] };
  if (/size limit exceeded/i.test(text)) throw new ScanError('size-limit', `clamd: ${text}`);
  throw new ScanError('error', `clamd: ${text || 'empty reply'}`);
}

/** Parses `ClamAV 1.4.6/27450/Tue Nov 17 09:32:12 2026`. */
export function parseVersion(reply: string): ClamdVersion {
  const raw = reply.replace(/\0+$/, '').trim();
  const [engine, sigs, date] = raw.split('/');
  return { engine, signatures: sigs && /^\d+$/.test(sigs) ? Number(sigs) : undefined, signatureDate: date, raw };
}

export class ClamdClient {
  readonly target: ClamdTarget;
  private readonly connectTimeout: number;
  private readonly scanTimeout: number;
  private readonly chunkSize: number;

  constructor(opts: ClamdOptions) {
    this.target = opts.target;
    this.connectTimeout = opts.connectTimeout;
    this.scanTimeout = opts.scanTimeout;
    this.chunkSize = opts.chunkSize ?? 256 * 1024;
  }

  get address(): string { return describe(this.target); }

  /** Whether clamd answers PONG; `signal` gives the question up (the socket is closed, the promise rejects). */
  async ping(signal?: AbortSignal): Promise<boolean> {
    return (await this.command('zPING\0', signal)) === 'PONG';
  }

  async version(): Promise<ClamdVersion> {
    return parseVersion(await this.command('zVERSION\0'));
  }

  /** Streams `input` to clamd with INSTREAM and returns its verdict; throws ScanError when there is none. */
  scan(input: Readable): Promise<ScanResult> {
    // A spool file that cannot be opened errors before the pump listens; unheard, that error would end the process.
    // The pump still sees it: iterating an errored stream throws its error.
    input.on('error', ignoreUntilPumped);
    // Start reading (a file stream opens and fills its first chunk) while the connection is being made.
    input.read(0);
    // Whatever happened, the input is done with: a file stream must not keep its descriptor.
    return this.session((sock, reply, state) => this.pump(input, sock, reply, state))
      .finally(() => input.destroy())
      .then(parseScanReply);
  }

  private async command(cmd: string, signal?: AbortSignal): Promise<string> {
    const reply = await this.session(async (sock) => { sock.write(cmd); }, signal);
    return reply.replace(/\0+$/, '').trim();
  }

  /**
   * Opens a socket, lets `send` write the request, and resolves with clamd's NUL-terminated reply.
   * `send` gets a promise of the reply so it can stop writing once clamd has answered early (size limit).
   */
  private session(send: (sock: net.Socket, reply: Promise<string>, state: SendState) => Promise<void>, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) { reject(new ScanError('error', `clamd at ${this.address}: given up`)); return; }
      const where = this.address;
      const sock = 'socket' in this.target
        ? net.createConnection({ path: this.target.socket })
        : net.createConnection({ host: this.target.host, port: this.target.port });
      const chunks: Buffer[] = [];
      let connected = false;
      let settled = false;
      let timer: NodeJS.Timeout;
      let answered!: (s: string) => void;
      const replyPromise = new Promise<string>((r) => { answered = r; });
      const state: SendState = { streaming: false, sent: 0 };

      const finish = (err: Error | null, text?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', givenUp);
        sock.destroy();
        if (err) reject(err); else resolve(text!);
      };
      const givenUp = () => finish(new ScanError('error', `clamd at ${where}: given up`));
      signal?.addEventListener('abort', givenUp, { once: true });
      const replyText = () => Buffer.concat(chunks).toString('utf8');

      timer = setTimeout(() => finish(new ScanError('unreachable', `clamd at ${where}: no connection within ${this.connectTimeout} ms`)), this.connectTimeout);
      sock.on('connect', () => {
        connected = true;
        clearTimeout(timer);
        timer = setTimeout(() => finish(new ScanError('timeout', `clamd at ${where}: no reply within ${this.scanTimeout} ms`)), this.scanTimeout);
        send(sock, replyPromise, state).catch((err: Error) => finish(err instanceof ScanError ? err : new ScanError('error', `reading the message for clamd: ${err.message}`)));
      });
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        if (d.includes(0)) { answered(replyText()); finish(null, replyText()); }
      });
      sock.on('end', () => {
        const text = replyText();
        answered(text);
        if (text) finish(null, text);
        else finish(new ScanError('error', `clamd at ${where} closed the connection without a reply`));
      });
      sock.on('error', (err: NodeJS.ErrnoException) => {
        // A write error after clamd already answered (it closes early on a size limit) is not the story.
        if (chunks.length) { const text = replyText(); answered(text); finish(null, text); return; }
        // clamd stops reading and closes once a stream passes its StreamMaxLength; its reply may then be lost
        // to our failed write before we read it. A reset by the network looks the same: the caller, which knows how
        // much of the message the limit allows, judges which it was (`sent`).
        if (state.streaming && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) {
          finish(new ScanError('size-limit', `clamd at ${where} closed the connection during INSTREAM after ${state.sent} bytes (${err.code}), as it does past its StreamMaxLength, or as a fault does`,
            { inferred: true, sent: state.sent }));
          return;
        }
        finish(new ScanError(connected ? 'error' : 'unreachable', `clamd at ${where}: ${err.code ?? err.message}`));
      });
      sock.on('close', () => finish(new ScanError('error', `clamd at ${where} closed the connection without a reply`)));
    });
  }

  /**
   * Writes the INSTREAM framing with backpressure. Writes are corked and flushed once a chunk's worth is
   * buffered, so a small message goes out as one write (command, data and end mark): clamd then handles
   * it in one pass instead of one wake-up per fragment.
   */
  private async pump(input: Readable, sock: net.Socket, reply: Promise<string>, state: SendState): Promise<void> {
    let stop = false;
    reply.then(() => { stop = true; input.destroy(); });
    let buffered = 0;
    sock.cork();
    sock.write('zINSTREAM\0');
    state.streaming = true;
    try {
      for await (const data of input) {
        const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as string);
        for (let off = 0; off < buf.length && !stop; off += this.chunkSize) {
          const part = buf.subarray(off, off + this.chunkSize);
          const len = Buffer.alloc(4);
          len.writeUInt32BE(part.length);
          sock.write(len);
          sock.write(part);
          buffered += part.length;
          state.sent += part.length;
          if (buffered >= this.chunkSize) {
            buffered = 0;
            sock.uncork();
            // Up to a few chunks may wait in the socket's buffer: waiting for each to drain would stall
            // the pipe between file reads and clamd, while the memory stays bounded either way.
            if (sock.writableLength >= 4 * this.chunkSize) await waitDrain(sock);
            sock.cork();
          }
        }
        if (stop || sock.destroyed) return;
      }
    } finally {
      input.destroy();
    }
    if (!stop && !sock.destroyed) sock.write(END_OF_STREAM, () => { state.streaming = false; });
    sock.uncork();
  }
}

/** Keeps an input error from being an uncaught exception; the pump reports it as a failed scan. */
function ignoreUntilPumped(): void {}

function waitDrain(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { sock.off('drain', done); sock.off('close', done); resolve(); };
    sock.once('drain', done);
    sock.once('close', done);
  });
}
