// Benchmark: the same Haraka plugin chain (test/fixtures/haraka) in Mailmoat (haraka shim) and in Haraka 3.3.4 itself.
//
// Both servers run in their own process and use the same loopback DNS server, Redis and smarthost, in the same run. Haraka is the installed
// `haraka` package started with `haraka -c <dir>` (Node 24), with xclient first and queue/smtp_forward last;
// its plugins' resolvers are redirected to the test DNS server by a preload, as the shim's `dns_servers` does.
// Every message is its own connection (XCLIENT from 127.0.0.1 names 93.184.216.1). Haraka forwards before its
// 250; Mailmoat answers 250 after its fsync'd queue write and relays afterwards.
// Usage: node scripts/bench/haraka.ts [--messages N] [--concurrency C] [--without-karma]
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../test/helpers/ports.ts';
import { spawnGateway } from '../../test/helpers/gateway.ts';
import { startSmarthost } from '../../test/helpers/smarthost.ts';
import { SmtpDialog } from '../../test/helpers/smtp-dialog.ts';
import { startWorld, IP, message } from '../../test/plugins/haraka/setup.ts';

const { values } = parseArgs({ options: {
  messages: { type: 'string', default: '200' }, concurrency: { type: 'string', default: '8' },
  // karma is inert in Haraka for XCLIENT clients (see below): this compares the chain without it on both sides
  'without-karma': { type: 'boolean', default: false },
} });
const total = Number(values.messages);
const concurrency = Number(values.concurrency);
const require = createRequire(import.meta.url);

async function load(label: string, port: number, count = total) {
  let next = 0;
  let ok = 0;
  let failures = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const d = await SmtpDialog.connect(port);
      await d.hello({ helo: 'mail.example.org', xclient: { addr: IP.clean, helo: 'mail.example.org' } });
      const good = (await d.cmd('MAIL FROM:<alice@example.org>')).code === 250
        && (await d.cmd('RCPT TO:<bob@example.test>')).code === 250
        && (await d.data(message())).code === 250;
      if (good) ok++; else failures++;
      await d.quit();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const rate = ok / ((performance.now() - start) / 1000);
  console.log(`${label.padEnd(26)} ${rate.toFixed(1).padStart(7)} msg/s  failures ${failures}`);
  return rate;
}

/** Starts `haraka -c <dir>` on a copy of the folder with xclient and smtp_forward added; resolves once it listens. */
async function startHaraka(worldDir: string, dnsAddress: string, sinkPort: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-bench-'));
  // `haraka -i` would have installed Haraka's default config files; ours go on top of them.
  cpSync(path.join(path.dirname(require.resolve('haraka/package.json')), 'config'), path.join(dir, 'config'), { recursive: true });
  cpSync(worldDir, dir, { recursive: true });
  const port = await freePort();
  const cfg = (name: string, text: string) => writeFileSync(path.join(dir, 'config', name), text);
  const plugins = readFileSync(path.join(dir, 'config', 'plugins'), 'utf8');
  cfg('plugins', `xclient\n${plugins}\nqueue/smtp_forward\n`);
  cfg('smtp.ini', `[main]\nlisten=127.0.0.1:${port}\nnodes=0\n`);
  cfg('xclient.hosts', '127.0.0.1\n');
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
  const child = spawn(process.execPath, ['-r', preload, bin, '-c', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try { const d = await SmtpDialog.connect(port); await d.read(); await d.quit(); break; } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`haraka did not start:\n${out.slice(0, 3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => { if (child.exitCode !== null) r(null); else child.once('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(null); }, 3000); });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const world = await startWorld();
// Haraka's xclient plugin does not re-run connect_init, so there karma never initialises for an XCLIENT client and
// stays inert; in Mailmoat it works and tarpits the (by now "bad history") bench client. Keep its tarpit to 1 ms
// on both sides so the figures compare plugin cost, not a deliberate delay.
writeFileSync(path.join(world.dir, 'config', 'karma.ini'), '[tarpit]\ndelay=0\nmax=0.001\n\n[deny_excludes]\nplugins=dns-list, mail_from.is_resolvable, greylist, spf, attachment, headers\n');
if (values['without-karma']) {
  const list = path.join(world.dir, 'config', 'plugins');
  writeFileSync(list, readFileSync(list, 'utf8').split('\n').filter((l) => l.trim() !== 'karma').join('\n'));
}
const sink = await startSmarthost();
const gw = await spawnGateway({ config: {
  smarthost: `smtp://127.0.0.1:${sink.port}`, domains: ['example.test'],
  dns: { servers: [world.dns.address] },
  plugins: [{ name: 'haraka', dir: world.dir, dns_servers: [world.dns.address], timeout: '20s' }],
} });
// The same gateway without the shim: how much of Mailmoat's figure is its own relay path (fsync'd queue, verdict).
const bare = await spawnGateway({ config: { smarthost: `smtp://127.0.0.1:${sink.port}`, domains: ['example.test'], dns: { servers: [world.dns.address] } } });
const haraka = await startHaraka(world.dir, world.dns.address, sink.port);
try {
  const chain = readFileSync(path.join(world.dir, 'config', 'plugins'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).join(', ');
  console.log(`${total} messages per run, ${concurrency} concurrent connections from ${IP.clean}; chain: ${chain}`);
  await load('warm-up Mailmoat', gw.port, 40);
  await load('warm-up Haraka', haraka.port, 40);
  await load('warm-up Mailmoat bare', bare.port, 40);
  const ours: number[] = [];
  const theirs: number[] = [];
  const bares: number[] = [];
  for (let round = 1; round <= 2; round++) {
    bares.push(await load(`Mailmoat, no plugins #${round}`, bare.port));
    ours.push(await load(`Mailmoat + shim #${round}`, gw.port));
    theirs.push(await load(`Haraka 3.3.4 #${round}`, haraka.port));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`ratio Mailmoat + shim / Haraka (mean of 2 rounds): ${(mean(ours) / mean(theirs)).toFixed(2)}`);
  console.log(`ratio Mailmoat + shim / Mailmoat without plugins: ${(mean(ours) / mean(bares)).toFixed(2)}`);
} finally {
  await haraka.stop();
  for (const g of [gw, bare]) { await g.kill(); rmSync(g.dataDir, { recursive: true, force: true }); }
  await sink.stop();
  await world.stop();
}
process.exit(0);
