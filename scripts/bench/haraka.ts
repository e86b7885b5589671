// Benchmark: the same Haraka plugin chain (test/fixtures/haraka) in Mailmoat (haraka shim) and in Haraka 3.3.4 itself.
//
// Both servers run in their own process and use the same loopback DNS server, Redis and smarthost, in the same run. Haraka is the installed
// `haraka` package started with `haraka -c <dir>` (Node 24), with queue/smtp_forward last; its plugins' resolvers
// are redirected to the test DNS server by a preload, as the shim's `dns_servers` does. Every message is its own
// connection that opens with a PROXY v1 header naming 93.184.216.1: both servers take it before their connect hooks
// (Haraka `connection.ini [haproxy] hosts`, Mailmoat `server.proxy_protocol`), so every plugin, karma included,
// works on both sides. Haraka forwards before its 250; Mailmoat answers 250 after its fsync'd queue write and
// relays afterwards, so a run ends when the sink (a separate fast process, no greeting delay) holds every message.
// Mailmoat logs at info to a file (its summary line per message), Haraka at WARN (the test folder's log.ini).
// Figures: msg/s, CPU ms per message of the server process, and where the wall time of a message goes.
// Profiling: BENCH_GATEWAY_NODE_ARGS / BENCH_HARAKA_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
// Both greet as soon as their connect hooks are done: stock Haraka has no greeting pause (early_talker is off by
// default), and Mailmoat runs here with server.greeting_delay: 0.
// Usage: node scripts/bench/haraka.ts [--messages N] [--concurrency C] [--rounds R] [--without-karma] [--only mailmoat|haraka]
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/helpers/ports.ts';
import { cpuMs, holdPeer, startGatewayProcess, startSink, waitForSink, type Sink } from './lib/processes.ts';
import { SmtpDialog } from '../../test/helpers/smtp-dialog.ts';
import { startWorld, IP, message } from '../../test/plugins/haraka/setup.ts';

const { values } = parseArgs({ options: {
  messages: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '8' }, rounds: { type: 'string', default: '3' },
  'without-karma': { type: 'boolean', default: false },
  // one server only (for profiling it with BENCH_GATEWAY_NODE_ARGS or BENCH_HARAKA_NODE_ARGS)
  only: { type: 'string' },
} });
const total = Number(values.messages);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const require = createRequire(import.meta.url);

const STEPS = ['greeting', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT'] as const;

async function load(label: string, server: { port: number; pid: number }, sink: Sink, count = total) {
  const { port } = server;
  const delivered = (await sink.count()).count;
  const cpu0 = cpuMs(server.pid);
  let next = 0;
  let ok = 0;
  let failures = 0;
  const spent: number[] = STEPS.map(() => 0);
  const worker = async () => {
    while (next < count) {
      next++;
      let t = performance.now();
      const step = (i: number) => { const now = performance.now(); spent[i] += now - t; t = now; };
      const d = await SmtpDialog.connect(port);
      d.write(`PROXY TCP4 ${IP.clean} 127.0.0.1 ${40000 + (next % 20000)} 25\r\n`);
      const greet = await d.read(); step(0);
      const good = greet.code === 220
        && (await d.cmd('EHLO mail.example.org')).code === 250 && (step(1), true)
        && (await d.cmd('MAIL FROM:<alice@example.org>')).code === 250 && (step(2), true)
        && (await d.cmd('RCPT TO:<bob@example.test>')).code === 250 && (step(3), true)
        && (await d.data(message())).code === 250 && (step(4), true);
      if (good) ok++; else failures++;
      await d.cmd('QUIT').catch(() => undefined);
      step(5);
      await d.quit();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  // Polled often: the rate below runs until this returns, not until the sink's last message.
  await waitForSink(sink, delivered + ok, { deadline: Date.now() + 30_000, pollMs: 5 });
  const rate = ok / ((performance.now() - start) / 1000);
  const cpu = (cpuMs(server.pid) - cpu0) / count;
  const per = STEPS.map((n, i) => `${n} ${(spent[i] / count).toFixed(0)}`).join(' ');
  console.log(`${label.padEnd(26)} ${rate.toFixed(1).padStart(6)} msg/s  CPU ${cpu.toFixed(1).padStart(5)} ms/msg  failures ${failures}  (wall ms: ${per})`);
  return { rate, cpu };
}

/** Starts `haraka -c <dir>` on a copy of the folder with PROXY from loopback and smtp_forward; resolves once it listens. */
async function startHaraka(worldDir: string, dnsAddress: string, sinkPort: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-bench-'));
  // `haraka -i` would have installed Haraka's default config files; ours go on top of them.
  cpSync(path.join(path.dirname(require.resolve('haraka/package.json')), 'config'), path.join(dir, 'config'), { recursive: true });
  cpSync(worldDir, dir, { recursive: true });
  const port = await freePort();
  const cfg = (name: string, text: string) => writeFileSync(path.join(dir, 'config', name), text);
  const plugins = readFileSync(path.join(dir, 'config', 'plugins'), 'utf8');
  cfg('plugins', `${plugins}\nqueue/smtp_forward\n`);
  cfg('smtp.ini', `[main]\nlisten=127.0.0.1:${port}\nnodes=0\n`);
  const connIni = readFileSync(path.join(dir, 'config', 'connection.ini'), 'utf8').replace(/\[haproxy\][\s\S]*?(?=\n\[|$)/, '[haproxy]\nhosts[]=127.0.0.1\n');
  cfg('connection.ini', connIni);
  cfg('smtp_forward.ini', `host=127.0.0.1\nport=${sinkPort}\nenable_tls=false\n`);
  const preload = path.join(dir, 'dns-preload.cjs');
  writeFileSync(preload, `const dns = require('node:dns');
const servers = [${JSON.stringify(dnsAddress)}];
dns.setServers(servers); dns.promises.setServers(servers);
const P = dns.Resolver, Q = dns.promises.Resolver;
dns.Resolver = class extends P { constructor(...a) { super(...a); this.setServers(servers); } };
dns.promises.Resolver = class extends Q { constructor(...a) { super(...a); this.setServers(servers); } };
`);
  const bin = path.join(path.dirname(require.resolve('haraka/package.json')), 'bin', 'haraka');
  const nodeArgs = (process.env.BENCH_HARAKA_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '-r', preload, bin, '-c', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = holdPeer(child, dir);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try { const d = await SmtpDialog.connect(port); d.write(`PROXY TCP4 ${IP.clean} 127.0.0.1 40000 25\r\n`); await d.read(); await d.quit(); break; } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error(`haraka did not start:\n${out.slice(0, 3000)}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    port, pid: child.pid!,
    stop,
  };
}

const world = await startWorld();
// The same karma settings on both sides: its tarpit kept at 1 ms so the figures compare plugin cost, not a delay.
writeFileSync(path.join(world.dir, 'config', 'karma.ini'), '[tarpit]\ndelay=0\nmax=0.001\n\n[deny_excludes]\nplugins=dns-list, mail_from.is_resolvable, greylist, spf, attachment, headers\n');
if (values['without-karma']) {
  const list = path.join(world.dir, 'config', 'plugins');
  writeFileSync(list, readFileSync(list, 'utf8').split('\n').filter((l) => l.trim() !== 'karma').join('\n'));
}
const sink = await startSink();
const gatewayConfig = async (plugins: unknown[]) => {
  const port = await freePort();
  const g = await startGatewayProcess({
    // Stock Haraka greets at once (its early_talker plugin is off by default): so does Mailmoat here.
    server: { proxy_protocol: true, trusted_proxies: ['127.0.0.1/32'], greeting_delay: 0 },
    smarthost: `smtp://127.0.0.1:${sink.port}`, domains: ['example.test'], dns: { servers: [world.dns.address] }, plugins,
  }, port);
  return { port, pid: g.child.pid!, stop: () => g.stop() };
};
const wantOurs = values.only !== 'haraka';
const wantTheirs = values.only !== 'mailmoat';
type Server = Awaited<ReturnType<typeof gatewayConfig>>;
let gw: Server | undefined;
let bare: Server | undefined;
let haraka: Server | undefined;
try {
  gw = wantOurs ? await gatewayConfig([{ name: 'haraka', dir: world.dir, dns_servers: [world.dns.address], timeout: '20s' }]) : undefined;
  // The same gateway without the shim: how much of Mailmoat's figure is its own relay path (fsync'd queue, verdict).
  bare = wantOurs && !values.only ? await gatewayConfig([]) : undefined;
  haraka = wantTheirs ? await startHaraka(world.dir, world.dns.address, sink.port) : undefined;
  const chain = readFileSync(path.join(world.dir, 'config', 'plugins'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).join(', ');
  console.log(`${total} messages per run, ${concurrency} concurrent connections, PROXY from ${IP.clean}; chain: ${chain}`);
  if (gw) await load('warm-up Mailmoat', gw, sink, 40);
  if (haraka) await load('warm-up Haraka', haraka, sink, 40);
  if (bare) await load('warm-up Mailmoat bare', bare, sink, 40);
  const ours: Array<{ rate: number; cpu: number }> = [];
  const theirs: Array<{ rate: number; cpu: number }> = [];
  const bares: Array<{ rate: number; cpu: number }> = [];
  for (let round = 1; round <= rounds; round++) {
    if (bare) bares.push(await load(`Mailmoat, no plugins #${round}`, bare, sink));
    // alternate who goes first, so neither always runs on the warmer machine
    const pair = [
      async () => { if (gw) ours.push(await load(`Mailmoat + shim #${round}`, gw, sink)); },
      async () => { if (haraka) theirs.push(await load(`Haraka 3.3.4 #${round}`, haraka, sink)); },
    ];
    if (round % 2 === 0) pair.reverse();
    for (const run of pair) await run();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (ours.length && theirs.length) {
    console.log(`msg/s Mailmoat + shim / Haraka per round: ${ours.map((o, i) => (o.rate / theirs[i].rate).toFixed(2)).join(', ')}; of the means: ${(mean(ours.map((o) => o.rate)) / mean(theirs.map((o) => o.rate))).toFixed(2)}`);
    console.log(`CPU per message Mailmoat + shim / Haraka (mean): ${(mean(ours.map((o) => o.cpu)) / mean(theirs.map((o) => o.cpu))).toFixed(2)}`);
  }
  if (bares.length) console.log(`msg/s Mailmoat + shim / Mailmoat without plugins: ${(mean(ours.map((o) => o.rate)) / mean(bares.map((o) => o.rate))).toFixed(2)}`);
} finally {
  await haraka?.stop();
  await gw?.stop();
  await bare?.stop();
  sink.stop();
  await world.stop();
}
process.exit(0);
