// A big deferred queue, as after a day with the smarthost down: builds N deferred messages through QueueStore (as the
// gateway writes them), times `moat queue` on them without and with a running gateway, watches SMTP latency, open
// files and idle CPU of a spawned `moat start` while its smarthost answers 451, then lets the smarthost accept and
// times the drain. First, the journal: N small fresh messages journaled (as after a crash under load), the longest
// event-loop stall and the time of their recovery in this process, then the longest /health/live answer of a spawned
// `moat start` recovering them (a liveness probe times out after 1 s by default).
// Usage: node scripts/bench/big-queue.ts [--messages=50000] [--dir=PATH] [--journal-only]
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { QueueStore } from '../../core/queue/queue-store.ts';
import { newQueueId } from '../../core/queue/queue-id.ts';
import type { QueueEntry } from '../../core/queue/entry.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { longestStall } from '../../test/helpers/event-loop-stall.ts';
import { exitOnSignals, holdUntilExit } from '../../test/helpers/leftovers.ts';
import { productionNodeArgs } from './lib/gateway-node-args.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '50000' }, dir: { type: 'string', default: os.tmpdir() }, 'journal-only': { type: 'boolean', default: false } } });
const N = Number(values.messages);
exitOnSignals();
const dataDir = mkdtempSync(path.join(values.dir, 'mailmoat-big-queue-'));
const endDir = holdUntilExit({ dir: dataDir });
const MOAT = path.resolve(import.meta.dirname, '..', 'moat.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function build(): Promise<void> {
  const store = new QueueStore(dataDir);
  await store.takeOverJournal();
  const now = Date.now();
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < N; k = next++) {
      const to = `u${k}@d${k % 10}.example`;
      const body = Buffer.from(`From: a@client.example\r\nTo: ${to}\r\nSubject: big ${k}\r\n\r\n${'x'.repeat(1500)}\r\n`);
      await store.enqueue({
        id: newQueueId(), mailFrom: 'a@client.example', recipients: [{ address: to, status: 'pending', reply: '451 4.3.0 try later' }],
        prepend: '', remove: [], receivedAt: now - 86_400_000 + k, size: body.length, client: { ip: '192.0.2.1' }, authenticated: false,
        attempts: 6, nextAttemptAt: now + 3_600_000 + (k % 1000) * 1000, lastReply: '451 4.3.0 try later', history: [],
      } satisfies QueueEntry, body);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

/** Runs `moat queue …` as a child (asynchronously: the SMTP probes of this process keep running meanwhile). */
function moat(args: string[]): Promise<{ ms: number; rssKb: number; out: string; code: number | null }> {
  const t = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '%M', process.execPath, MOAT, 'queue', ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  return new Promise((resolve) => child.once('close', (code) => resolve({ ms: performance.now() - t, rssKb: Number(err.trim().split('\n').at(-1)), out, code })));
}

/** A smarthost that answers every RCPT 451 until `accept` is set; counts connections and messages. */
function smarthost(port: number) {
  const st = { accept: false, open: 0, maxOpen: 0, msgs: 0 };
  const server = net.createServer((c) => {
    st.open++; st.maxOpen = Math.max(st.maxOpen, st.open);
    c.on('close', () => st.open--); c.on('error', () => undefined);
    c.write('220 sink\r\n');
    let buf = '', data = false;
    c.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const l = buf.slice(0, i); buf = buf.slice(i + 2);
        if (data) { if (l === '.') { data = false; st.msgs++; c.write('250 ok\r\n'); } continue; }
        const v = l.slice(0, 4).toUpperCase();
        if (v === 'EHLO') c.write('250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
        else if (v === 'RCPT') c.write(st.accept ? '250 ok\r\n' : '451 4.3.0 try later\r\n');
        else if (v === 'DATA') { if (st.accept) { data = true; c.write('354 go\r\n'); } else c.write('554 no valid recipients\r\n'); }
        else if (v === 'QUIT') c.end('221 bye\r\n');
        else c.write('250 ok\r\n');
      }
    });
  });
  return { st, server };
}

/** Greeting and MAIL FROM latency of one SMTP session. */
function smtpProbe(port: number): Promise<{ greet: number; mail: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now(); let greet = 0, t1 = 0, step = 0, buf = '';
    const c = net.connect(port, '127.0.0.1');
    c.on('error', reject);
    c.on('data', (d) => {
      buf += d;
      if (!buf.endsWith('\r\n') || /^\d{3}-[^\n]*\r\n$/.test(buf.split(/(?<=\n)/).at(-1)!)) return;
      buf = '';
      if (step === 0) { greet = performance.now() - t0; c.write('EHLO probe\r\n'); }
      else if (step === 1) { t1 = performance.now(); c.write('MAIL FROM:<p@client.example>\r\n'); }
      else { c.end('QUIT\r\n'); resolve({ greet, mail: performance.now() - t1 }); }
      step++;
    });
  });
}

async function probeWhile<T>(port: number, work: () => Promise<T>): Promise<{ result: T; worstGreet: number; worstMail: number }> {
  let stop = false, worstGreet = 0, worstMail = 0;
  const loop = (async () => { while (!stop) { const p = await smtpProbe(port); worstGreet = Math.max(worstGreet, p.greet); worstMail = Math.max(worstMail, p.mail); await sleep(50); } })();
  const result = await work();
  stop = true; await loop;
  return { result, worstGreet, worstMail };
}

const procStat = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
const cpuTicks = (pid: number) => Number(procStat(pid)[11]) + Number(procStat(pid)[12]);
const status = (pid: number, key: string) => /(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(key))!)![1];

/** N small messages committed to the journal and never delivered, in a data dir of their own. */
async function buildJournal(dir: string): Promise<void> {
  const store = new QueueStore(dir);
  await store.takeOverJournal();
  const now = Date.now();
  // A thousand appends at once share each fdatasync, as concurrent SMTP sessions do.
  for (let b = 0; b < N; b += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, N - b) }, (_, i) => {
      const k = b + i, to = `u${k}@d${k % 10}.example`;
      const body = Buffer.from(`From: a@client.example\r\nTo: ${to}\r\nSubject: fresh ${k}\r\n\r\n${'x'.repeat(1500)}\r\n`);
      return store.commitJournaled({
        id: newQueueId(), mailFrom: 'a@client.example', recipients: [{ address: to, status: 'pending' }], prepend: '', remove: [],
        receivedAt: now, size: body.length, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: now, history: [],
      } satisfies QueueEntry, body);
    }));
  }
  store.close();
}

/** Latency of GET `path` on the admin listener; undefined while it does not answer (not listening yet). */
async function httpGet(port: number, p: string): Promise<{ ms: number; status: number } | undefined> {
  const t0 = performance.now();
  try {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(5000) });
    await res.text();
    return { ms: performance.now() - t0, status: res.status };
  } catch { return undefined; }
}

/** Starts `moat start` on `dir` with an admin listener and probes /health/live every 20 ms until /health/ready says 200. */
async function startProbingLiveness(dir: string): Promise<{ worstLive: number; probes: number; readyAfter: number }> {
  const [smtpPort, httpPort] = [await freePort(), await freePort()];
  const configFile = path.join(dir, 'mailmoat.yaml');
  writeFileSync(configFile, [
    `server: { hostname: mx.bench.example, listen: ["127.0.0.1:${smtpPort}"] }`, 'domains: [example.com]', `data_dir: ${dir}`,
    `http: { listen: ["127.0.0.1:${httpPort}"] }`, 'log: { level: warn, format: json }', '',
  ].join('\n'));
  const t0 = performance.now();
  const child = spawn(process.execPath, [...productionNodeArgs(), MOAT, 'start', '--config', configFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  const end = holdUntilExit({ child });
  let worstLive = 0, probes = 0, readyAfter = 0;
  while (child.exitCode === null) {
    const live = await httpGet(httpPort, '/health/live');
    if (live) { probes++; worstLive = Math.max(worstLive, live.ms); }
    if ((await httpGet(httpPort, '/health/ready'))?.status === 200) { readyAfter = performance.now() - t0; break; }
    await sleep(20);
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  end();
  return { worstLive, probes, readyAfter };
}

const journalDir = mkdtempSync(path.join(values.dir, 'mailmoat-big-journal-'));
const endJournalDir = holdUntilExit({ dir: journalDir });
let t = performance.now();
await buildJournal(journalDir);
console.log(`N=${N}: journaled in ${s(performance.now() - t)}`);
let recovered = 0, took = 0;
const stall = await longestStall(async () => {
  const store = new QueueStore(journalDir);
  const t0 = performance.now();
  recovered = (await store.recover()).entries.length;
  took = performance.now() - t0;
  store.close();
}, 5);
console.log(`journal recovery in this process: ${recovered} messages in ${took.toFixed(0)} ms, longest event-loop stall ${stall.toFixed(0)} ms (a 5 ms timer's longest gap)`);
const probed = await startProbingLiveness(journalDir);
console.log(`moat start on the journal: ready after ${s(probed.readyAfter)}; /health/live answered ${probed.probes} times meanwhile, slowest ${probed.worstLive.toFixed(0)} ms`);
endJournalDir();
if (values['journal-only']) process.exit();

t = performance.now();
await build();
console.log(`N=${N}: built in ${s(performance.now() - t)}`);
const first = readdirSync(path.join(dataDir, 'queue')).find((f) => f.endsWith('.json'))!.slice(0, -5);
for (const args of [['list', '--json'], ['list'], ['overview'], ['show', first]]) {
  const r = await moat(args);
  console.log(`no gateway: moat queue ${args.join(' ')}: ${s(r.ms)}, peak RSS ${(r.rssKb / 1024).toFixed(0)} MB, exit ${r.code}`);
}

const [smtpPort, sinkPort] = [await freePort(), await freePort()];
const sink = smarthost(sinkPort);
await new Promise<void>((r) => sink.server.listen(sinkPort, '127.0.0.1', () => r()));
const configFile = path.join(dataDir, 'mailmoat.yaml');
writeFileSync(configFile, [
  'server: { hostname: mx.bench.example, listen: ["127.0.0.1:' + smtpPort + '"] }', 'domains: [example.com]', `data_dir: ${dataDir}`,
  `smarthost: smtp://127.0.0.1:${sinkPort}`, 'queue: { retry_schedule: [15m, 30m, 1h, 4h], lifetime: 4d, concurrency: 20 }', 'log: { level: warn, format: json }', '',
].join('\n'));
t = performance.now();
const gw = spawn(process.execPath, [...productionNodeArgs(), MOAT, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
const endGw = holdUntilExit({ child: gw });
let output = '';
gw.stdout.on('data', (d) => { output += d; }); gw.stderr.on('data', (d) => { output += d; });
gw.once('exit', (code) => { if (!done) { console.log(`the gateway exited (${code}):\n${output.slice(-2000)}`); process.exitCode = 1; } });
let done = false;
while (!(await smtpProbe(smtpPort).then(() => true, () => false))) await sleep(100);
console.log(`gateway: up in ${s(performance.now() - t)} with ${N} queued, peak RSS ${(Number(status(gw.pid!, 'VmHWM')) / 1024).toFixed(0)} MB`);

const listed = await probeWhile(smtpPort, async () => moat(['list', '--json']));
console.log(`gateway: moat queue list --json: ${s(listed.result.ms)}, ${(listed.result.out.length / 1e6).toFixed(1)} MB; SMTP meanwhile: greeting ≤ ${listed.worstGreet.toFixed(0)} ms, MAIL ≤ ${listed.worstMail.toFixed(0)} ms`);
const ov = await moat(['overview']);
console.log(`gateway: moat queue overview: ${s(ov.ms)}`);
await sleep(20_000);
const fds = readdirSync(`/proc/${gw.pid}/fd`).length;
console.log(`gateway: after 20 s of start-up retries to a 451 smarthost: ${fds} open files (a leak grows with each failed attempt), smarthost connections ≤ ${sink.st.maxOpen}`);
const del = await probeWhile(smtpPort, async () => moat(['delete', '--to', 'd3.example']));
const deleted = del.result.out.split('\n').filter((l) => / deleted/.test(l)).length;
console.log(`gateway: moat queue delete --to d3.example: ${deleted} messages in ${s(del.result.ms)}, exit ${del.result.code}; SMTP meanwhile: greeting ≤ ${del.worstGreet.toFixed(0)} ms, MAIL ≤ ${del.worstMail.toFixed(0)} ms`);

sink.st.accept = true; sink.st.maxOpen = sink.st.open;
t = performance.now();
const fl = await probeWhile(smtpPort, async () => {
  const r = await moat(['flush']);
  while (sink.st.msgs < N - N / 10 && gw.exitCode === null) await sleep(200);
  return r;
});
console.log(`smarthost back: flush ${s(fl.result.ms)}; ${sink.st.msgs} delivered in ${s(performance.now() - t)}, smarthost connections ≤ ${sink.st.maxOpen}; SMTP meanwhile: greeting ≤ ${fl.worstGreet.toFixed(0)} ms, MAIL ≤ ${fl.worstMail.toFixed(0)} ms`);
const c0 = cpuTicks(gw.pid!);
await sleep(10_000);
console.log(`gateway idle for 10 s: ${((cpuTicks(gw.pid!) - c0) / 10).toFixed(1)} % CPU (clock ticks at 100 Hz)`);
done = true;
gw.kill('SIGTERM');
await new Promise((r) => gw.once('exit', r));
endGw();
sink.server.close();
endDir();
