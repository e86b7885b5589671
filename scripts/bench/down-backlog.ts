// A backlog behind destinations that are down, as in an outbound-bulk run whose MX hosts all went away: N deferred
// messages to D domains (each its own route, over 7 listeners that hang up on every connection), their retries
// falling due in the first half minute of a `moat start`. Measures the gateway's CPU while it only schedules, its
// longest event-loop stall, SMTP intake (msg/s, p50, p99) of new mail to a healthy destination meanwhile, and how many
// connections new mail to the down destinations opens.
// With --overdue, every next attempt passed before the start, as after a restart: a start spreads them 10 ms apart.
// Usage: node scripts/bench/down-backlog.ts [--messages=20000] [--domains=300] [--idle=60] [--rate=200] [--down-load=2000] [--overdue]
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { QueueStore } from '../../core/queue/queue-store.ts';
import { newQueueId } from '../../core/queue/queue-id.ts';
import type { QueueEntry } from '../../core/queue/entry.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { exitOnSignals, holdUntilExit } from '../../test/helpers/leftovers.ts';
import { productionNodeArgs } from './lib/gateway-node-args.ts';
import { cpuMs, holdPeer, startSink } from './lib/processes.ts';
import { makeMessage, runLoad } from './lib/load.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' }, domains: { type: 'string', default: '300' },
    idle: { type: 'string', default: '60' }, rate: { type: 'string', default: '200' }, 'down-load': { type: 'string', default: '2000' }, overdue: { type: 'boolean', default: false },
  },
});
const N = Number(values.messages);
const D = Number(values.domains);
const IDLE_S = Number(values.idle);
const RATE = Number(values.rate);
exitOnSignals();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const domain = (k: number) => `d${k % D}.down.example`;

/** Listeners that accept and hang up at once, counting connections: to the gateway, a destination that is down. */
async function hangUpListeners(count: number): Promise<{ ports: number[]; connections: () => number; close(): void }> {
  let connections = 0;
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
    const server = net.createServer((s) => { connections++; s.destroy(); });
    server.listen(0, '127.0.0.1', () => resolve(server));
  })));
  return { ports: servers.map((s) => (s.address() as net.AddressInfo).port), connections: () => connections, close: () => servers.forEach((s) => s.close()) };
}

/** N messages deferred once, their next attempts spread over the 30 s after `dueFrom`, as the gateway writes them. */
async function build(dataDir: string, dueFrom: number): Promise<void> {
  const store = new QueueStore(dataDir);
  await store.takeOverJournal();
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < N; k = next++) {
      const to = `u${k}@${domain(k)}`;
      const body = Buffer.from(`From: bulk@client.example\r\nTo: ${to}\r\nSubject: bulk ${k}\r\n\r\n${'x'.repeat(1500)}\r\n`);
      const reply = 'connection to 127.0.0.1 closed before its greeting';
      await store.enqueue({
        id: newQueueId(), mailFrom: 'bulk@client.example', recipients: [{ address: to, status: 'pending', reply }],
        prepend: '', remove: [], receivedAt: Date.now() - 120_000, size: body.length, client: { ip: '127.0.0.1' }, authenticated: false,
        attempts: 1, nextAttemptAt: dueFrom + Math.floor((k / N) * 30_000), lastReply: reply, history: [],
      } satisfies QueueEntry, body);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  store.close();
}

/**
 * New mail offered at `rate` messages a second over `connections` sessions for `seconds`: each session sends its share
 * on a fixed timetable (a late reply delays only its own session), pipelined MAIL, RCPT, DATA; latency to the 250.
 */
async function pacedLoad(port: number, o: { rate: number; seconds: number; connections: number; message: Buffer; rcpt: string }) {
  const lat: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const end = started + o.seconds * 1000;
  const gap = (1000 * o.connections) / o.rate;
  const session = async (k: number) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => undefined);
    let buf = '';
    const waiting: Array<(l: string) => void> = [];
    const got: string[] = [];
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const l = buf.slice(0, i); buf = buf.slice(i + 2);
        if (l[3] === '-') continue;
        const w = waiting.shift(); if (w) w(l); else got.push(l);
      }
    });
    const reply = () => new Promise<string>((r) => { const l = got.shift(); if (l !== undefined) r(l); else waiting.push(r); });
    await reply();
    sock.write('EHLO paced.example\r\n');
    await reply();
    for (let at = started + (k * gap) / o.connections; at < end; at += gap) {
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait);
      const t0 = performance.now();
      sock.write(`MAIL FROM:<bench@client.example>\r\nRCPT TO:<${o.rcpt}>\r\nDATA\r\n`);
      const r = [await reply(), await reply(), await reply()];
      if (!r[2].startsWith('354')) { failed++; firstError ??= r.join(' | '); sock.write('RSET\r\n'); await reply(); continue; }
      sock.write(o.message);
      const last = await reply();
      if (last.startsWith('250')) lat.push(performance.now() - t0); else { failed++; firstError ??= last; }
    }
    sock.end('QUIT\r\n');
  };
  await Promise.all(Array.from({ length: o.connections }, (_, k) => session(k)));
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { sent: lat.length, failed, firstError, seconds: (performance.now() - started) / 1000, p50: pct(0.5), p99: pct(0.99), max: lat.at(-1) ?? 0 };
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-down-backlog-'));
const endDir = holdUntilExit({ dir: dataDir });
const down = await hangUpListeners(7);
const sink = await startSink();
const smtpPort = await freePort();
const probeFile = path.join(dataDir, 'loop-probe.json');

let t = performance.now();
// Due from 15 s after the build, when the gateway is up and idle; or, --overdue, all passed before it starts.
await build(dataDir, values.overdue ? Date.now() - 3_600_000 : Date.now() + 15_000);
console.log(`${N} deferred messages to ${D} domains built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const routes = Object.fromEntries(Array.from({ length: D }, (_, k) => [domain(k), `smtp://127.0.0.1:${down.ports[k % down.ports.length]}`]));
const configFile = path.join(dataDir, 'mailmoat.yaml');
writeFileSync(configFile, stringify({
  server: { hostname: 'mx.bench.example', listen: [`127.0.0.1:${smtpPort}`] },
  domains: ['bench.example', ...Object.keys(routes)], data_dir: dataDir,
  smarthost: `smtp://127.0.0.1:${sink.port}`, routes,
  limits: { max_connections_per_ip: 1000 },
  queue: { retry_schedule: ['1m', '2m', '4m'] },
  log: { level: 'info', format: 'json' },
}));
const logFile = path.join(dataDir, 'gateway.log');
const fd = openSync(logFile, 'w');
const child = spawn(process.execPath, [...productionNodeArgs(), '--import', path.join(import.meta.dirname, 'lib', 'loop-delay-probe.ts'), path.resolve(import.meta.dirname, '..', 'moat.js'), 'start', '--config', configFile], {
  stdio: ['ignore', fd, 'inherit'], env: { ...process.env, LOOP_PROBE_OUT: probeFile },
});
closeSync(fd);
const stop = holdPeer(child, dataDir, 30_000);

let seq = 0;
/** The gateway's longest event-loop delay since the last reading. */
async function loopMax(): Promise<number> {
  process.kill(child.pid!, 'SIGWINCH');
  const until = Date.now() + 60_000;
  for (;;) {
    if (existsSync(probeFile)) {
      const r = JSON.parse(readFileSync(probeFile, 'utf8')) as { seq: number; maxMs: number };
      if (r.seq > seq) { seq = r.seq; return r.maxMs; }
    }
    if (Date.now() > until) throw new Error('the loop-delay probe did not answer');
    await sleep(20);
  }
}
const logLines = () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

t = performance.now();
while (!logLines().some((l) => l.msg === 'queue recovered')) {
  if (child.exitCode !== null) throw new Error(`gateway exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
  await sleep(100);
}
await sleep(1000);
console.log(`gateway ready after ${((performance.now() - t) / 1000).toFixed(1)} s`);
await loopMax();

const idle = async (label: string) => {
  const cpu0 = cpuMs(child.pid!);
  const conn0 = down.connections();
  await sleep(IDLE_S * 1000);
  const cpu = cpuMs(child.pid!) - cpu0;
  console.log(`${label}, idle ${IDLE_S} s: CPU ${(cpu / IDLE_S * 60 / 1000).toFixed(1)} s per minute, longest stall ${(await loopMax()).toFixed(0)} ms, ${down.connections() - conn0} connections to the down listeners`);
};
// The backlog's first retries fall due (from 15 s after the build) while nothing else happens.
await idle('first round');
// The messages that waited behind each destination's probe fall due a retry step later: new mail meanwhile.
const cpu0 = cpuMs(child.pid!);
const paced = await pacedLoad(smtpPort, { rate: RATE, seconds: 60, connections: 20, message: makeMessage(4096), rcpt: 'user@bench.example' });
const cpu = cpuMs(child.pid!) - cpu0;
console.log(`second round, new mail offered at ${RATE} msg/s to a healthy destination: ${paced.sent} taken, ${(paced.sent / paced.seconds).toFixed(0)} msg/s, p50 ${paced.p50.toFixed(0)} ms, p99 ${paced.p99.toFixed(0)} ms, max ${paced.max.toFixed(0)} ms, failed ${paced.failed}${paced.firstError ? ` (${paced.firstError})` : ''}; CPU ${(cpu / paced.seconds * 60 / 1000).toFixed(1)} s per minute, longest stall ${(await loopMax()).toFixed(0)} ms`);
await idle('after the second round');

// New mail to destinations already known to be down: 10 domains.
const conn1 = down.connections();
const per = Math.ceil(Number(values['down-load']) / 10);
const loads = await Promise.all(Array.from({ length: 10 }, (_, k) => runLoad(smtpPort, { total: per, connections: 2, message: makeMessage(4096), rcpt: `new@${domain(k)}` })));
await sleep(3000);
const sentDown = loads.reduce((n, l) => n + l.sent, 0);
console.log(`new mail to down destinations: ${sentDown} accepted, ${down.connections() - conn1} connections to the down listeners (3 s after); longest stall ${(await loopMax()).toFixed(0)} ms`);

const blocked = logLines().filter((l) => String(l.msg).startsWith('event loop blocked')).map((l) => l.blocked_ms);
console.log(`event loop blocked lines: ${blocked.length}${blocked.length ? ` (${blocked.join(', ')} ms)` : ''}`);
await stop();
sink.stop();
down.close();
endDir();
