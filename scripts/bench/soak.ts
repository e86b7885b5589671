// Soak test: a steady, mixed load on a real gateway for minutes, watching for anything that grows and is never dropped.
//
// A gateway process (`moat start`) with a realistic chain (rbl and urlbl against a loopback DNS server, ptr,
// sender-domain, spf, dmarc, greylist on the embedded store, bayes on the shipped dictionary) relays to a sink
// while clients come from ever new addresses (XCLIENT from the trusted 127.0.0.1): most send a message (new
// sender, recipient and link hosts each time; greylisted first, retried after the delay), some are refused at
// connect by the blocklist, some run into limits.max_errors and the error block, some hang up mid-DATA, some right
// after the greeting, some stay idle until the idle timeout. Every few seconds the gateway's RSS, open files,
// connections, DNS cache size and the clients' time to 250 are sampled; at the end the slopes after the warm-up
// give the verdict. Heap figures are not shown: the gateway exposes none (its metrics are counters and timings).
// Usage: node scripts/bench/soak.ts [--minutes=8] [--concurrency=12] [--sample=5] [--warmup=1]
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startDnsServer } from '../../test/helpers/dns-server.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { SmtpDialog } from '../../test/helpers/smtp-dialog.ts';
import { controlRequest } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { percentile } from '../../core/metrics.ts';
import { startGatewayProcess, startSink } from './lib/processes.ts';

export interface SoakOptions {
  minutes: number;
  concurrency?: number;
  sampleSeconds?: number;
  warmupMinutes?: number;
  log?: (line: string) => void;
}

export interface SoakSample {
  atSec: number;
  rssMb: number;
  fds: number;
  /** Connections the gateway holds open (its own count). */
  open: number;
  dnsCache: number;
  messages: number;
  sessions: number;
  p50: number;
  p99: number;
  /** Sessions whose outcome was not one the load expected (a 4xx where 250 was due, a dropped connection). */
  surprises: number;
}

export interface SoakReport {
  samples: SoakSample[];
  messages: number;
  sessions: Record<Kind, number>;
  surprises: number;
  firstSurprise?: string;
  /** Least-squares slopes over the samples after the warm-up, per minute. */
  rssMbPerMin: number;
  fdsPerMin: number;
  dnsCacheMax: number;
  /** After the load has stopped and idle sessions have timed out: connections the gateway still counts open. */
  openAfter: number;
  /** Files the gateway had open before the load began, and after it. */
  fdsAtStart: number;
  fdsAfter: number;
  verdict: string[];
}

type Kind = 'message' | 'refused' | 'errors' | 'abort' | 'drop' | 'idle';

// Out of 40 sessions: what each kind stands for in real traffic at a front-of-MX gateway.
const MIX: Kind[] = [
  ...Array<Kind>(28).fill('message'), ...Array<Kind>(4).fill('refused'), ...Array<Kind>(2).fill('errors'),
  ...Array<Kind>(3).fill('abort'), ...Array<Kind>(2).fill('drop'), 'idle',
];

const IDLE_TIMEOUT_MS = 3000;
const GREYLIST_DELAY_MS = 1000;
const SENDER_DOMAINS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A distinct client address for session `n`: 100.64.0.0/10, so about four million before one repeats. */
function clientAddress(n: number): string {
  const v = (n * 2654435761) % 4_194_304;
  return `100.${64 + (v >> 16)}.${(v >> 8) & 255}.${v & 255}`;
}
/** Every 40th /24 of those is listed at the rejecting zone. */
function isListed(ip: string): boolean { return Number(ip.split('.')[2]) % 40 === 7; }

function zones() {
  const senderZones: Record<string, Record<string, unknown>> = {};
  for (let d = 0; d < SENDER_DOMAINS; d++) {
    senderZones[`s${d}.soak`] = {
      '@': { MX: `10 mx.s${d}.soak`, TXT: 'v=spf1 ip4:100.64.0.0/10 -all' },
      mx: { A: '192.0.2.25' },
      _dmarc: { TXT: 'v=DMARC1; p=none' },
    };
  }
  const listed: Record<string, unknown> = {};
  // bl.soak lists every address whose third octet is 7 mod 40: `*.7.<b>.100` and so on for each such octet.
  for (let c = 7; c < 256; c += 40) listed[`*.${c}`] = { A: '127.0.0.2' };
  return {
    ...senderZones,
    'bl.soak': Object.fromEntries(Object.entries(listed).flatMap(([k, v]) => Array.from({ length: 64 }, (_, b) => [`${k}.${64 + b}.100`, v]))),
    'score.soak': {}, 'wl.soak': {}, 'ipbl.soak': {},
    // Every link host is a new registered domain under `.soak`; some are listed.
    'dbl.soak': { '*': { A: '127.0.1.2' } },
    'links.soak': { '*': { A: '192.0.2.80' } },
    '100.in-addr.arpa': { '*': { PTR: 'client.s0.soak' } },
    's0.soak': { '@': { MX: '10 mx.s0.soak', TXT: 'v=spf1 ip4:100.64.0.0/10 -all' }, mx: { A: '192.0.2.25' }, client: { A: '100.64.0.1' }, _dmarc: { TXT: 'v=DMARC1; p=none' } },
  };
}

export function soakConfig(dnsAddress: string, sinkPort: number): Record<string, unknown> {
  return {
    server: { trusted_proxies: ['127.0.0.1/32'], idle_timeout: `${IDLE_TIMEOUT_MS}ms` },
    domains: ['bench.example'],
    smarthost: `smtp://127.0.0.1:${sinkPort}`,
    dns: { servers: [dnsAddress], timeout: '1s' },
    limits: { max_connections_per_ip: 1000, max_message_size: '10MB', max_errors: 3, error_block: '2s' },
    plugins: [
      { name: 'rbl', zones: [{ zone: 'bl.soak', action: 'reject' }, { zone: 'score.soak', score: 1 }], allow_zones: [{ zone: 'wl.soak' }] },
      { name: 'ptr', mode: 'score' },
      { name: 'sender-domain' },
      { name: 'spf' },
      { name: 'greylist', delay: `${GREYLIST_DELAY_MS}ms`, retry_window: '10m', remember: '1h', skip_spf_pass: false, auto_allow_after: 0 },
      { name: 'urlbl', zones: [{ zone: 'dbl.soak', score: 1 }, { zone: 'ipbl.soak', type: 'ip' }] },
      { name: 'dmarc' },
      { name: 'bayes' },
    ],
  };
}

function message(n: number, sender: string, rcpt: string): string {
  const links = [`https://www.l${n}.soak/offer`, `http://shop${n % 997}.links.soak/p?id=${n}`, `http://198.51.100.${n % 250}/x`];
  return `From: ${sender}\r\nTo: ${rcpt}\r\nSubject: soak ${n}\r\nMessage-ID: <soak-${n}@client.soak>\r\n` +
    `Date: ${new Date().toUTCString()}\r\n\r\nHello ${n}, see ${links.join(' and ')}\r\nregards\r\n`;
}

class Load {
  private n = 0;
  readonly counts: Record<Kind, number> = { message: 0, refused: 0, errors: 0, abort: 0, drop: 0, idle: 0 };
  delivered = 0;
  surprises = 0;
  firstSurprise?: string;
  times: number[] = [];
  private stopping = false;
  private readonly port: number;
  constructor(port: number) { this.port = port; }

  stop(): void { this.stopping = true; }
  get running(): boolean { return !this.stopping; }

  private surprise(what: string): void {
    this.surprises++;
    this.firstSurprise ??= what;
  }

  async worker(): Promise<void> {
    while (!this.stopping) {
      const n = this.n++;
      const kind = MIX[n % MIX.length];
      this.counts[kind]++;
      try {
        await this.session(kind, n);
      } catch (e) {
        this.surprise(`${kind} ${n}: ${(e as Error).message}`);
      }
    }
  }

  private async open(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(this.port);
    const r = await d.hello({ xclient: { addr: ip, helo: 'client.s0.soak' } });
    // A listed client gets its 554 on the greeting after XCLIENT, which hello() hands back.
    if (r.code !== 250 && r.code !== 554) throw new Error(`hello answered ${r.code} ${r.text}`);
    return d;
  }

  private async session(kind: Kind, n: number): Promise<void> {
    let ip = clientAddress(n);
    if (kind === 'refused') ip = ip.replace(/^(\d+\.\d+)\.\d+/, (_, ab: string) => `${ab}.${7 + 40 * (n % 6)}`);
    else if (isListed(ip)) ip = ip.replace(/^(\d+\.\d+)\.\d+/, (_, ab: string) => `${ab}.8`);
    if (kind === 'drop') {
      const d = await SmtpDialog.connect(this.port);
      if (n % 2) await d.read();
      d.hangUp();
      return;
    }
    const d = await this.open(ip);
    try {
      if (kind === 'refused') {
        const r = await d.cmd('MAIL FROM:<x@s1.soak>');
        if (r.code !== 554) this.surprise(`refused client ${ip} got ${r.code} to MAIL`);
        return;
      }
      if (kind === 'errors') {
        // limits.max_errors is 3: the third bad command drops the client and blocks its address for a while.
        for (let i = 0; i < 3 && !d.closed; i++) await d.cmd('MAIL FROM:<bad address>').catch(() => undefined);
        return;
      }
      if (kind === 'idle') {
        // The gateway must drop it after idle_timeout; the read throws when it does.
        const r = await d.read(IDLE_TIMEOUT_MS * 3).catch(() => ({ code: 0 }));
        if (r.code !== 421 && r.code !== 0) this.surprise(`idle client got ${r.code}`);
        return;
      }
      const sender = `u${n}@s${n % SENDER_DOMAINS}.soak`;
      const rcpt = `r${n}@bench.example`;
      if (kind === 'abort') {
        await d.cmd(`MAIL FROM:<${sender}>`);
        await d.cmd(`RCPT TO:<${rcpt}>`);
        const r = await d.cmd('DATA');
        if (r.code === 354) d.write(message(n, sender, rcpt).slice(0, 120));
        await sleep(20);
        d.hangUp();
        return;
      }
      await this.deliver(d, n, ip, sender, rcpt);
    } finally {
      await d.quit();
    }
  }

  /** One message: greylisted first, then the same triplet again after the delay on a new connection. */
  private async deliver(first: SmtpDialog, n: number, ip: string, sender: string, rcpt: string): Promise<void> {
    let d = first;
    for (let attempt = 0; attempt < 3; attempt++) {
      const t0 = performance.now();
      const m = await d.cmd(`MAIL FROM:<${sender}>`);
      if (m.code !== 250) { this.surprise(`MAIL answered ${m.code} ${m.text}`); return; }
      const r = await d.cmd(`RCPT TO:<${rcpt}>`);
      if (r.code === 451 && /greylist/i.test(r.text)) {
        await d.quit();
        await sleep(GREYLIST_DELAY_MS + 100);
        if (this.stopping) return;
        d = await this.open(ip);
        continue;
      }
      if (r.code !== 250) { this.surprise(`RCPT answered ${r.code} ${r.text}`); break; }
      const end = await d.data(message(n, sender, rcpt));
      if (end.code === 250) { this.delivered++; this.times.push(performance.now() - t0); } else this.surprise(`DATA answered ${end.code} ${end.text}`);
      break;
    }
    if (d !== first) await d.quit();
  }
}

function rssMb(pid: number): number {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024; } catch { return 0; }
}
function openFiles(pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return 0; }
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2; }
  return den ? num / den : 0;
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => undefined);
  const sampleMs = (opts.sampleSeconds ?? 5) * 1000;
  const warmupSec = (opts.warmupMinutes ?? Math.min(1, opts.minutes / 4)) * 60;
  const dns = await startDnsServer({ zones: zones() as never, ttl: 300 });
  const sink = await startSink();
  const gw = await startGatewayProcess(soakConfig(dns.address, sink.port), await freePort()).catch(async (e) => { sink.stop(); await dns.stop(); throw e; });
  const pid = gw.child.pid!;
  const fdsAtStart = openFiles(pid);
  const load = new Load(gw.port);
  const samples: SoakSample[] = [];
  const started = Date.now();
  try {
    const workers = Array.from({ length: opts.concurrency ?? 12 }, () => load.worker());
    log(' min    RSS MB   fds  open  dns-cache  messages  sessions  p50 ms  p99 ms  surprises');
    while (Date.now() - started < opts.minutes * 60_000) {
      await sleep(sampleMs);
      // The DNS server keeps a log of the queries it answered; in a long run that is the test server's memory, not ours.
      await dns.resetQueries();
      const m = await controlRequest(socketPath(gw.dataDir), { op: 'metrics' }, 10_000).catch(() => ({})) as { connections_open?: number; dns?: { cache_size?: number } };
      const times = load.times.sort((a, b) => a - b);
      load.times = [];
      const sessions = Object.values(load.counts).reduce((a, b) => a + b, 0);
      const s: SoakSample = {
        atSec: (Date.now() - started) / 1000, rssMb: rssMb(pid), fds: openFiles(pid), open: m.connections_open ?? -1,
        dnsCache: m.dns?.cache_size ?? -1, messages: load.delivered, sessions, p50: percentile(times, 0.5), p99: percentile(times, 0.99),
        surprises: load.surprises,
      };
      samples.push(s);
      log(`${(s.atSec / 60).toFixed(2).padStart(5)} ${s.rssMb.toFixed(1).padStart(8)} ${String(s.fds).padStart(5)} ${String(s.open).padStart(5)} ${String(s.dnsCache).padStart(10)} ${String(s.messages).padStart(9)} ${String(s.sessions).padStart(9)} ${s.p50.toFixed(1).padStart(7)} ${s.p99.toFixed(1).padStart(7)} ${String(s.surprises).padStart(10)}`);
    }
    load.stop();
    await Promise.all(workers);
    // Idle sessions end by the gateway's timeout: after it, nothing of the load may be left open.
    await sleep(IDLE_TIMEOUT_MS + 1000);
    const after = await controlRequest(socketPath(gw.dataDir), { op: 'metrics' }, 10_000) as { connections_open: number };
    const fdsAfter = openFiles(pid);
    const late = samples.filter((s) => s.atSec >= warmupSec);
    const rssMbPerMin = slope(late.map((s) => s.atSec / 60), late.map((s) => s.rssMb));
    const fdsPerMin = slope(late.map((s) => s.atSec / 60), late.map((s) => s.fds));
    const dnsCacheMax = Math.max(...samples.map((s) => s.dnsCache));
    const verdict: string[] = [];
    if (rssMbPerMin > 2) verdict.push(`RSS grows ${rssMbPerMin.toFixed(2)} MB/min after the warm-up`);
    if (fdsPerMin > 1) verdict.push(`open files grow ${fdsPerMin.toFixed(2)}/min after the warm-up`);
    if (after.connections_open !== 0) verdict.push(`${after.connections_open} connections still counted open after the load`);
    return {
      samples, messages: load.delivered, sessions: { ...load.counts }, surprises: load.surprises, firstSurprise: load.firstSurprise,
      rssMbPerMin, fdsPerMin, dnsCacheMax, openAfter: after.connections_open, fdsAtStart, fdsAfter, verdict,
    };
  } finally {
    load.stop();
    await gw.stop();
    sink.stop();
    await dns.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: {
    minutes: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '12' },
    sample: { type: 'string', default: '5' }, warmup: { type: 'string' },
  } });
  const r = await runSoak({
    minutes: Number(values.minutes), concurrency: Number(values.concurrency), sampleSeconds: Number(values.sample),
    warmupMinutes: values.warmup === undefined ? undefined : Number(values.warmup), log: (l) => console.log(l),
  });
  const first = r.samples.find((s) => s.atSec >= (values.warmup === undefined ? Math.min(1, Number(values.minutes) / 4) : Number(values.warmup)) * 60) ?? r.samples[0];
  const last = r.samples.at(-1)!;
  console.log(`\n${(last.atSec / 60).toFixed(1)} min, ${r.messages} messages delivered, sessions ${JSON.stringify(r.sessions)}, surprises ${r.surprises}${r.firstSurprise ? ` (first: ${r.firstSurprise})` : ''}`);
  console.log(`after warm-up: RSS ${first.rssMb.toFixed(1)} → ${last.rssMb.toFixed(1)} MB (${r.rssMbPerMin.toFixed(2)} MB/min), fds ${first.fds} → ${last.fds} (${r.fdsPerMin.toFixed(2)}/min), DNS cache at most ${r.dnsCacheMax}`);
  console.log(`after the load: ${r.openAfter} connections open, ${r.fdsAfter} fds (${r.fdsAtStart} before it)`);
  console.log(r.verdict.length ? `verdict: GROWTH: ${r.verdict.join('; ')}` : 'verdict: flat (no growth beyond the thresholds: RSS 2 MB/min, fds 1/min)');
  process.exitCode = r.verdict.length ? 1 : 0;
}
