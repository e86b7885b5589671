// `npm run bench:peers`: the same load (4 KB messages, 20 connections) through Mailmoat, Postfix and Haraka, each
// relaying to the same loopback sink, in one run; counts the time until the sink has every message, not only to 250.
//
// Usage: node scripts/bench/peers.ts [--messages=N] [--connections=C] [--size=BYTES]
// Postfix (Debian package `postfix`) runs as its own instance from a temp config directory (never the system
// service); Haraka is the `haraka` npm package with rcpt_to.in_host_list and queue/smtp_forward. A peer that is not
// installed is left out with a note. Figures are printed as ratios because the machine is shared.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { holdPeer, startSink, startGatewayProcess, waitForSink, pssKb, treePssKb, type Sink } from './lib/processes.ts';
import { runLoad, makeMessage } from './lib/load.ts';
import { freePort } from '../../test/helpers/ports.ts';
import { holdUntilExit } from '../../test/helpers/leftovers.ts';

const arg = (name: string, def: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const total = arg('messages', 3000);
const connections = arg('connections', 20);
const size = arg('size', 4096);
const require = createRequire(import.meta.url);

/**
 * `memoryKb`: the proportional set size (PSS) of the server's processes right after the load, summed over all of them
 * for Postfix: PSS shares each shared page out among the processes that map it, so many small processes are not
 * counted many times over, as their RSS would be.
 */
interface Peer { name: string; port: number; memoryKb(): number; stop(): Promise<void> }
interface Figures { name: string; to250: number; allAtSink: number; failed: number; p50: number; p99: number; memoryMb: number }

async function waitUntilListening(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Seconds from `since` until the sink has `n` messages (or Infinity after the time limit). */
async function allAt(sink: Sink, n: number, since: number, limitMs = 120_000): Promise<number> {
  const { count, last } = await waitForSink(sink, n, { deadline: since + limitMs });
  if (count >= n) return (last - since) / 1000;
  console.error(`  the sink has ${count} of ${n} after ${limitMs / 1000} s`);
  return Infinity;
}

async function measure(peer: Pick<Peer, 'name' | 'port' | 'memoryKb'>, sink: Sink, message: Buffer): Promise<Figures> {
  const { name, port } = peer;
  await runLoad(port, { total: 200, connections: 10, message }); // warm-up
  await allAt(sink, 200, Date.now(), 60_000);
  sink.reset();
  const t0 = Date.now();
  const res = await runLoad(port, { total, connections, message });
  const secs = await allAt(sink, res.sent, t0);
  if (res.failed) console.error(`  ${name}: ${res.failed} failed, first: ${res.firstError}`);
  console.error(`  ${name}: ${res.msgsPerSec.toFixed(0)} msg/s to 250, ${(res.sent / secs).toFixed(0)} msg/s until the sink had all`);
  sink.reset();
  return { name, to250: res.msgsPerSec, allAtSink: res.sent / secs, failed: res.failed, p50: res.p50, p99: res.p99, memoryMb: peer.memoryKb() / 1024 };
}

/** A Postfix instance of its own: config, queue and data under a temp dir, smtpd on a loopback port, relayhost = the sink. */
async function startPostfix(sinkPort: number): Promise<Peer | undefined> {
  if (!existsSync('/usr/sbin/postfix') || !existsSync('/etc/postfix/master.cf')) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'postfix-bench-'));
  const etc = path.join(dir, 'etc');
  // The postfix user must reach its data directory inside the temp dir.
  execFileSync('chmod', ['0755', dir]);
  mkdirSync(etc);
  mkdirSync(path.join(dir, 'spool'));
  mkdirSync(path.join(dir, 'data'));
  execFileSync('chown', ['postfix', path.join(dir, 'data')]);
  const port = await freePort();
  writeFileSync(path.join(etc, 'main.cf'), [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/spool`,
    `data_directory = ${dir}/data`,
    'mail_owner = postfix',
    'myhostname = postfix.bench.invalid',
    'mydestination =',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'relay_domains = bench.example',
    `relayhost = [127.0.0.1]:${sinkPort}`,
    'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
    'smtpd_tls_security_level = none',
    'smtp_tls_security_level = none',
    'smtpd_client_connection_count_limit = 0',
    'smtpd_client_connection_rate_limit = 0',
    'smtpd_client_message_rate_limit = 0',
    'default_process_limit = 100',
    'default_destination_concurrency_limit = 20',
    'smtp_connection_cache_on_demand = yes',
    `maillog_file = ${dir}/postfix.log`,
    `maillog_file_prefixes = ${dir}`,
    'biff = no',
    '',
  ].join('\n'));
  // The Debian master.cf with our listener, no chroot (the temp queue has no chroot files) and no pipe transports.
  const master: string[] = [];
  let skip = false;
  for (const line of readFileSync('/etc/postfix/master.cf', 'utf8').split('\n')) {
    if (/^\s*#/.test(line) || line.trim() === '') continue;
    if (/^\s/.test(line)) { if (!skip) master.push(line); continue; }
    const f = line.split(/\s+/);
    skip = f[7] === 'pipe' || (f[0] === 'smtp' && f[1] === 'inet');
    if (f[0] === 'smtp' && f[1] === 'inet') { master.push(`127.0.0.1:${port} inet n - n - - smtpd`); continue; }
    if (skip) continue;
    f[4] = 'n';
    master.push(f.join(' '));
  }
  writeFileSync(path.join(etc, 'master.cf'), master.join('\n') + '\n');
  const r = spawnSync('/usr/sbin/postfix', ['-c', etc, 'start'], { encoding: 'utf8' });
  if (r.status !== 0) {
    const log = existsSync(path.join(dir, 'postfix.log')) ? readFileSync(path.join(dir, 'postfix.log'), 'utf8').slice(-1500) : '';
    // The caller only notes a peer that fails to start: its processes and dir must not outlive the run.
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`postfix did not start: ${r.stderr || r.stdout}${log}`);
  }
  // Postfix's master is a daemon, not our child: an interrupted run stops it the way stop() does.
  const stopPostfix = () => { spawnSync('/usr/sbin/postfix', ['-c', etc, 'stop'], { stdio: 'ignore' }); };
  // BENCH_DEBUG keeps the dir (its postfix.log) for reading after the run.
  const end = holdUntilExit({ undo: stopPostfix, dir: process.env.BENCH_DEBUG ? undefined : dir });
  await waitUntilListening(port, 15_000, 'postfix').catch((e) => {
    stopPostfix();
    end();
    throw e;
  });
  const masterPid = Number(readFileSync(path.join(dir, 'spool', 'pid', 'master.pid'), 'utf8').trim());
  return {
    name: 'Postfix', port,
    memoryKb: () => treePssKb(masterPid),
    async stop() {
      if (process.env.BENCH_DEBUG) console.error(readFileSync(path.join(dir, 'postfix.log'), 'utf8').split('\n').filter((l) => !/smtpd|cleanup|qmgr/.test(l)).slice(-25).join('\n'));
      stopPostfix();
      await new Promise((r) => setTimeout(r, 500));
      end();
    },
  };
}

/** Haraka with only a recipient domain check and smtp_forward to the sink, one process (nodes=0). */
async function startHaraka(sinkPort: number): Promise<Peer | undefined> {
  let pkg: string;
  try { pkg = path.dirname(require.resolve('haraka/package.json')); } catch { return undefined; }
  const version = JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8')).version as string;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-peer-'));
  cpSync(path.join(pkg, 'config'), path.join(dir, 'config'), { recursive: true });
  const port = await freePort();
  const cfg = (name: string, text: string) => writeFileSync(path.join(dir, 'config', name), text);
  cfg('plugins', 'rcpt_to.in_host_list\nqueue/smtp_forward\n');
  cfg('host_list', 'bench.example\n');
  cfg('smtp.ini', `[main]\nlisten=127.0.0.1:${port}\nnodes=0\n`);
  cfg('smtp_forward.ini', `host=127.0.0.1\nport=${sinkPort}\nenable_tls=false\n`);
  cfg('log.ini', '[main]\nlevel=warn\n');
  const child = spawn(process.execPath, [path.join(pkg, 'bin', 'haraka'), '-c', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stop = holdPeer(child, dir);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-3000); });
  await waitUntilListening(port, 20_000, `haraka (${err})`).catch(async (e) => {
    await stop();
    throw e;
  });
  return {
    name: `Haraka ${version}`, port,
    memoryKb: () => pssKb(child.pid!),
    stop,
  };
}

const message = makeMessage(size);
const sink = await startSink();
const results: Figures[] = [];
const notes: string[] = [];
try {
  sink.reset();
  const ceiling = await runLoad(sink.port, { total, connections, message });
  results.push({ name: 'sink alone', to250: ceiling.msgsPerSec, allAtSink: ceiling.msgsPerSec, failed: ceiling.failed, p50: ceiling.p50, p99: ceiling.p99, memoryMb: pssKb(sink.child.pid!) / 1024 });
  sink.reset();

  const gw = await startGatewayProcess({ smarthost: { url: `smtp://127.0.0.1:${sink.port}`, connections: 16 }, queue: { concurrency: 64 }, domains: ['bench.example'] }, await freePort());
  try { results.push(await measure({ name: 'Mailmoat', port: gw.port, memoryKb: () => pssKb(gw.child.pid!) }, sink, message)); } finally { await gw.stop(); }

  for (const start of [startPostfix, startHaraka]) {
    let peer: Peer | undefined;
    try { peer = await start(sink.port); } catch (e) { notes.push(`${start.name.replace('start', '')}: ${(e as Error).message}`); continue; }
    if (!peer) { notes.push(`${start.name.replace('start', '')} is not installed: left out`); continue; }
    try { results.push(await measure(peer, sink, message)); } finally { await peer.stop(); }
  }
} finally { sink.stop(); }

const ours = results.find((r) => r.name === 'Mailmoat')!;
console.log(`\nPeers: ${total} messages of ${size} bytes over ${connections} connections, each server relaying to the same loopback sink (${new Date().toISOString()})\n`);
console.log('| server | msg/s to 250 | msg/s until the sink has all | p50 / p99 ms to 250 | memory (PSS) MB after the load | Mailmoat ÷ this: msg/s (sink has all) | p99 | memory |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const ratio = (a: number, b: number) => (r === ours ? '1.00' : (a / b).toFixed(2));
  console.log(`| ${r.name} | ${r.to250.toFixed(0)} | ${r.name === 'sink alone' ? '(direct)' : r.allAtSink.toFixed(0)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} | ${r.memoryMb.toFixed(0)} | ${ratio(ours.allAtSink, r.allAtSink)} | ${ratio(ours.p99, r.p99)} | ${ratio(ours.memoryMb, r.memoryMb)} |`);
}
for (const n of notes) console.log(`\nnote: ${n}`);
process.exit(0);
