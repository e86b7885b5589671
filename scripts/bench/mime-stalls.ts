// Whether a hostile message stalls the gateway for everyone else: each case sends one message made to make the MIME
// parse work hard (lib/hostile-mime.ts) to a fresh gateway running the rules plugin with an attachment rule (so the
// parsed view is built), while a second connection sends NOOP after NOOP and times each round trip. Per case: the
// longest NOOP round trip, the longest delay of the gateway's own event loop (monitorEventLoopDelay, from a preload:
// lib/loop-delay-probe.ts), the gateway's `event loop blocked` lines, its peak RSS, and the reply the message got.
//
// Usage: node scripts/bench/mime-stalls.ts [--case=parts-10k;base64-one-line] [--repeat=3] [--list]
// --case takes the starts of case names, `;` between them; --repeat runs each case that many times, each on a fresh
// gateway, and gives the median of each figure (a machine shared with other work moves single runs a lot).
// Each case is sized near the default limits.max_message_size (25 MB) unless a limit of its own applies. The config
// is the default but for the rules plugin and max_junk_commands, raised so the NOOP prober is not cut off.
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { holdUntilExit } from '../../test/helpers/leftovers.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { peakRssKb, startGatewayProcess, startSink, type GatewayProc } from './lib/processes.ts';
import * as hostile from './lib/hostile-mime.ts';

const MB = 1024 * 1024;
const SIZE = 20 * MB;

const cases: Array<{ name: string; build: () => Buffer }> = [
  { name: 'baseline: one 20 MB attachment', build: () => hostile.manyParts(1, SIZE) },
  { name: 'parts-1k (mailparser\'s limit)', build: () => hostile.manyParts(999, SIZE / 1000) },
  { name: 'parts-10k', build: () => hostile.manyParts(10_000, SIZE / 10_000) },
  { name: 'parts-100k', build: () => hostile.manyParts(100_000, 60) },
  { name: 'nest-21 multiparts', build: () => hostile.nestedMultiparts(21, SIZE) },
  { name: 'nest-5000 multiparts', build: () => hostile.nestedMultiparts(5000, SIZE) },
  { name: 'nest-6 attached messages', build: () => hostile.nestedMessages(6, SIZE) },
  { name: 'header: one field folded 1M times', build: () => hostile.hugeHeader(hostile.foldedField(1_000_000, 20)) },
  { name: 'header: 100k fields', build: () => hostile.hugeHeader(hostile.manyFields(100_000, 200)) },
  { name: 'part header: one field folded 1M times', build: () => hostile.hugePartHeader(hostile.foldedField(1_000_000, 20)) },
  { name: 'part header: 100k fields', build: () => hostile.hugePartHeader(hostile.manyFields(100_000, 200)) },
  { name: 'part header: 1 MB, folded 50k times', build: () => hostile.hugePartHeader(hostile.foldedField(50_000, 20)) },
  { name: 'base64-one-line', build: () => hostile.linelessBase64(SIZE) },
  { name: 'qp soft breaks, attachment', build: () => hostile.softBreakQp(SIZE, true) },
  { name: 'qp soft breaks, inline text', build: () => hostile.softBreakQp(SIZE, false) },
  { name: 'qp: 100k spaces before a letter', build: () => hostile.qpBlankRun(100_000) },
  { name: 'subject: 12k encoded words (header limit)', build: () => hostile.encodedSubject(12_000) },
  { name: 'attached subject: 100k encoded words', build: () => hostile.attachedEncodedSubject(100_000) },
  { name: 'filename: 40k RFC 2231 sections', build: () => hostile.filenameSections(40_000) },
  { name: 'filename: 100k RFC 2231 sections', build: () => hostile.filenameSections(100_000) },
  { name: 'html: 1M nested tags', build: () => hostile.nestedHtml(1_000_000) },
  { name: 'html: 85k nested tags (under 1 MB)', build: () => hostile.nestedHtml(85_000) },
  { name: 'text: 20 MB without spaces', build: () => hostile.spacelessText(SIZE) },
  { name: 'text: 1 MB without spaces', build: () => hostile.spacelessText(MB - 2048) },
  { name: 'received: 50k lines', build: () => hostile.receivedLines(50_000) },
  { name: 'received: 2k lines (header limit)', build: () => hostile.receivedLines(2000) },
];

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
if (process.argv.includes('--list')) {
  for (const c of cases) console.log(c.name);
  process.exit(0);
}
const wanted = option('case')?.split(';').map((s) => s.trim().toLowerCase());
const repeat = Math.max(1, Number(option('repeat') ?? 1));
const chosen = wanted ? cases.filter((c) => wanted.some((w) => c.name.toLowerCase().startsWith(w))) : cases;

const probeDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-mime-stalls-'));
const releaseProbeDir = holdUntilExit({ dir: probeDir });
const probeFile = path.join(probeDir, 'loop.json');
process.env.LOOP_PROBE_OUT = probeFile;
process.env.BENCH_GATEWAY_NODE_ARGS = `${process.env.BENCH_GATEWAY_NODE_ARGS ?? ''} --import ${path.join(import.meta.dirname, 'lib', 'loop-delay-probe.ts')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An SMTP client connection that reads whole replies (multi-line ones as their last line). */
class Client {
  readonly socket: net.Socket;
  private buffer = '';
  private readonly replies: string[] = [];
  private waiter?: () => void;
  private closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      for (let i = this.buffer.indexOf('\r\n'); i >= 0; i = this.buffer.indexOf('\r\n')) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        if (line[3] !== '-') this.replies.push(line);
      }
      this.waiter?.();
    });
    const end = () => { this.closed = true; this.waiter?.(); };
    socket.on('close', end);
    socket.on('error', end);
  }

  static async open(port: number): Promise<Client> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const c = new Client(socket);
    await c.reply();
    return c;
  }

  async reply(): Promise<string> {
    while (!this.replies.length) {
      if (this.closed) return '(connection closed)';
      await new Promise<void>((r) => { this.waiter = r; });
      this.waiter = undefined;
    }
    return this.replies.shift()!;
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Writes `data`, waiting on the socket's buffer as it drains. */
  async write(data: Buffer): Promise<void> {
    for (let at = 0; at < data.length; at += 256 * 1024) {
      if (!this.socket.write(data.subarray(at, at + 256 * 1024))) await new Promise((r) => this.socket.once('drain', r));
    }
  }

  close(): void { this.socket.destroy(); }
}

/** Sends `raw` (dot-stuffed here) as one message; resolves with the final reply. */
async function send(port: number, raw: Buffer): Promise<string> {
  const c = await Client.open(port);
  try {
    await c.command('EHLO hostile.sender.example');
    await c.command('MAIL FROM:<hostile@sender.example>');
    await c.command('RCPT TO:<user@bench.example>');
    const go = await c.command('DATA');
    if (!go.startsWith('354')) return go;
    const text = raw.toString('latin1');
    const stuffed = Buffer.from((text.startsWith('.') ? '.' : '') + text.replace(/\r\n\./g, '\r\n..'), 'latin1');
    await c.write(stuffed);
    c.socket.write(stuffed.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n');
    return await c.reply();
  } finally {
    c.close();
  }
}

/** NOOP after NOOP on a connection of its own until stopped: the longest round trip, and how many there were. */
function startProber(port: number): { stop(): Promise<{ worstMs: number; count: number }> } {
  let running = true;
  let worstMs = 0;
  let count = 0;
  const done = (async () => {
    const c = await Client.open(port);
    await c.command('EHLO prober.example');
    while (running) {
      const sent = performance.now();
      const r = await c.command('NOOP');
      if (!r.startsWith('250')) throw new Error(`the prober's NOOP got ${r}`);
      worstMs = Math.max(worstMs, performance.now() - sent);
      count++;
      await sleep(5);
    }
    c.close();
  })();
  return { async stop() { running = false; await done; return { worstMs, count }; } };
}

let seq = 0;
/** The gateway's loop-delay reading since the last one (the preload starts over at each). */
async function loopReading(gw: GatewayProc): Promise<{ maxMs: number }> {
  process.kill(gw.child.pid!, 'SIGWINCH');
  const until = Date.now() + 30_000;
  for (;;) {
    if (existsSync(probeFile)) {
      const r = JSON.parse(readFileSync(probeFile, 'utf8')) as { seq: number; maxMs: number };
      if (r.seq > seq) { seq = r.seq; return r; }
    }
    if (Date.now() > until) throw new Error('the loop-delay probe did not answer');
    await sleep(20);
  }
}

/** The `event loop blocked` lines the gateway wrote, as their blocked_ms. */
function blockedLines(gw: GatewayProc): number[] {
  const log = readFileSync(path.join(gw.dataDir, 'gateway.log'), 'utf8');
  return log.split('\n').filter((l) => l.includes('event loop blocked')).map((l) => Number((JSON.parse(l) as { blocked_ms?: number }).blocked_ms));
}

interface Row { name: string; sizeMb: number; reply: string; noopMs: number; loopMs: number; blocked: number[]; peakRssMb: number; seconds: number }

const WARM_UP = hostile.message('Content-Type: multipart/mixed; boundary="w"\r\n',
  `--w\r\nContent-Type: text/plain\r\n\r\nwarm up\r\n--w\r\nContent-Type: text/html\r\n\r\n<p>warm</p>\r\n--w\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename="w.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${hostile.base64Text(2048)}--w--\r\n`);

async function runCase(c: { name: string; build: () => Buffer }, sinkPort: number): Promise<Row> {
  const raw = c.build();
  // Each gateway's preload counts its readings from 1.
  rmSync(probeFile, { force: true });
  seq = 0;
  const gw = await startGatewayProcess({
    smarthost: { url: `smtp://127.0.0.1:${sinkPort}` },
    limits: { max_connections_per_ip: 1000, max_junk_commands: 1_000_000 },
    plugins: [{
      name: 'rules',
      rules: [{ name: 'executables', when: { attachment: { name: ['*.exe', '*.scr'] } }, actions: [{ reject: 'Executable attachments are not accepted' }] }],
    }],
  }, await freePort());
  try {
    // mailparser and mailsplit load on the first parse, once in a gateway's life: not this message's cost.
    await send(gw.port, WARM_UP);
    await sleep(300);
    await loopReading(gw);
    const prober = startProber(gw.port);
    await sleep(200);
    const started = performance.now();
    const reply = await send(gw.port, raw);
    const seconds = (performance.now() - started) / 1000;
    // Delivery of an accepted message reads it once more.
    await sleep(1500);
    const probe = await prober.stop();
    const loop = await loopReading(gw);
    return {
      name: c.name, sizeMb: raw.length / MB, reply: reply.slice(0, 90), noopMs: probe.worstMs, loopMs: loop.maxMs,
      blocked: blockedLines(gw), peakRssMb: peakRssKb(gw.child.pid!) / 1024, seconds,
    };
  } finally {
    await gw.stop();
  }
}

/** Each figure's median over the runs of a case (the blocked lines of the run with the median loop delay). */
function medianRow(runs: Row[]): Row {
  const median = (f: (r: Row) => number) => runs.map(f).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  const byLoop = [...runs].sort((a, b) => a.loopMs - b.loopMs)[Math.floor(runs.length / 2)];
  return {
    ...byLoop, noopMs: median((r) => r.noopMs), loopMs: byLoop.loopMs, peakRssMb: median((r) => r.peakRssMb), seconds: median((r) => r.seconds),
  };
}

const sink = await startSink();
const rows: Row[] = [];
try {
  for (const c of chosen) {
    const runs: Row[] = [];
    for (let i = 0; i < repeat; i++) {
      const row = await runCase(c, sink.port);
      runs.push(row);
      console.error(`${row.name}: noop ${row.noopMs.toFixed(0)} ms, loop ${row.loopMs.toFixed(0)} ms, rss ${row.peakRssMb.toFixed(0)} MB, ${row.reply}`);
    }
    rows.push(medianRow(runs));
  }
} finally {
  sink.stop();
  releaseProbeDir();
}
console.log(`\nMIME stalls (${new Date().toISOString()}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}, median of ${repeat})\n`);
console.log('| case | MB | worst NOOP round trip ms | gateway loop max delay ms | `event loop blocked` lines (ms) | peak RSS MB | s to reply | reply |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.sizeMb.toFixed(1)} | ${r.noopMs.toFixed(0)} | ${r.loopMs.toFixed(0)} | ${r.blocked.join(', ') || '-'} | ${r.peakRssMb.toFixed(0)} | ${r.seconds.toFixed(1)} | ${r.reply} |`);
}
process.exit(0);
