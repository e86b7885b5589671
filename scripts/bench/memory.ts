// Where a gateway's memory goes: RSS, PSS and V8's heap of `moat start` on the README's embedded default (no config
// file), read right after start, after a burst of messages and a while later; then the same with the bayes plugin.
//
// Usage: node scripts/bench/memory.ts [--messages=3000] [--connections=20] [--size=4096] [--settle=60]
//          [--case=default|bayes|both] [--relay=file|sink] [--node-args="--max-semi-space-size=4"]
//          [--modules] [--keep=DIR [--snapshots]]
// The gateway runs with production's Node flags (package.json's start script), then --node-args, which win:
// --node-args=--max-semi-space-size=0 gives V8's default young generation.
// --relay=sink relays to a loopback sink (as `npm run bench:peers` does) instead of the default's .eml files;
// --modules lists the packages loaded at each reading; --keep copies each reading (with the module that first imported
// each module) and the gateway's log in DIR, and --snapshots adds a V8 heap snapshot there (for the Memory tab of
// Chrome's DevTools). Readings come from a preload (lib/memory-probe.ts) asked by SIGWINCH.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cpuMs, holdPeer, pssKb, startSink, waitForSink, PROJECT, type Sink } from './lib/processes.ts';
import { productionNodeArgs } from './lib/gateway-node-args.ts';
import { runLoad, makeMessage } from './lib/load.ts';
import { freePort } from '../../test/helpers/ports.ts';

const option = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const num = (name: string, def: number) => Number(option(name) ?? def);
const total = num('messages', 3000);
const connections = num('connections', 20);
const size = num('size', 4096);
const settleSecs = num('settle', 60);
const cases = (option('case') ?? 'both') === 'both' ? ['default', 'bayes'] : [option('case')!];
const relay = option('relay') ?? 'file';
const extraNodeArgs = [...productionNodeArgs(), ...(option('node-args') ?? '').split(' ').filter(Boolean)];
const listModules = process.argv.includes('--modules');
const keepDir = option('keep') && path.resolve(option('keep')!);
const snapshotDir = keepDir && process.argv.includes('--snapshots') ? keepDir : undefined;

interface Probe { asIs: Reading; afterGc: Reading; modules: string[] }
interface Reading { memory: NodeJS.MemoryUsage; heap: { used: number; total: number; external: number; malloced: number }; spaces: Record<string, { size: number; used: number }> }
interface Row { state: string; rssKb: number; pssKb: number; probe: Probe }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** Asks the probe in `pid` for a reading and waits until it has written one newer than `after`. */
async function askProbe(pid: number, file: string, after: number): Promise<Probe & { seq: number }> {
  process.kill(pid, 'SIGWINCH');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (existsSync(file)) {
      const got = JSON.parse(readFileSync(file, 'utf8'));
      if (got.seq > after) return got;
    }
    if (Date.now() > deadline) throw new Error('the memory probe did not answer');
    await sleep(50);
  }
}

/** Packages (node_modules/<name>) and the project's own files among the loaded module URLs, with their counts. */
function packagesOf(urls: string[]): string {
  const counts = new Map<string, number>();
  for (const u of urls) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
    const key = m ? m[1] : u.startsWith('node:') ? '(node builtins)' : u.startsWith('file://') ? '(mailmoat)' : u;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
}

async function runCase(name: string, sink: Sink | undefined): Promise<Row[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-memory-'));
  const port = await freePort();
  const probeFile = path.join(dir, 'probe.json');
  // The embedded default: no config file in its working directory, only the listen address (and the case) set.
  const sets = [`server.listen=["127.0.0.1:${port}"]`];
  if (name === 'bayes') sets.push('plugins=[{name: bayes}]');
  if (sink) sets.push(`smarthost=smtp://127.0.0.1:${sink.port}`);
  const logFile = path.join(keepDir ?? dir, keepDir ? `${name}-gateway.log` : 'gateway.log');
  const log = openSync(logFile, 'w');
  const env: NodeJS.ProcessEnv = { ...process.env, MEMORY_PROBE_OUT: probeFile, ...(snapshotDir ? { MEMORY_PROBE_SNAPSHOT_DIR: snapshotDir } : {}) };
  delete env.MAILMOAT_CONFIG;
  const args = ['--expose-gc', ...extraNodeArgs, '--import', path.join(PROJECT, 'scripts', 'bench', 'lib', 'memory-probe.ts'),
    path.join(PROJECT, 'scripts', 'moat.js'), 'start', ...sets.flatMap((s) => ['--set', s])];
  const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', log, log] });
  closeSync(log);
  const stop = holdPeer(child, dir, 30_000);
  console.error(`  ${name}: gateway pid ${child.pid}`);
  // The load retries a refused connection without end: a gateway that dies under it must end the run instead.
  const died = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`the gateway exited (${signal ?? code}): ${readFileSync(logFile, 'utf8').slice(-2000)}`))));
  died.catch(() => undefined);
  const rows: Row[] = [];
  let seq = 0;
  const read = async (state: string) => {
    // RSS and PSS are read before the probe's forced GC, as the machine sees the process.
    const rss = rssKb(child.pid!);
    const pss = pssKb(child.pid!);
    const probe = await askProbe(child.pid!, probeFile, seq);
    seq = probe.seq;
    rows.push({ state, rssKb: rss, pssKb: pss, probe });
    if (keepDir) copyFileSync(probeFile, path.join(keepDir, `${name}-${seq}.json`));
    if (listModules) console.error(`  ${name}, ${state}: ${probe.modules.length} modules: ${packagesOf(probe.modules)}`);
  };
  try {
    const message = makeMessage(size);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await runLoad(port, { total: 1, connections: 1, message, rcpt: 'postmaster@localhost' }).catch(() => undefined);
      if (r?.sent === 1) break;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      await sleep(100);
    }
    await sleep(2000);
    await read('idle after start');
    sink?.reset();
    const cpuBefore = cpuMs(child.pid!);
    const res = await Promise.race([runLoad(port, { total, connections, message, rcpt: 'postmaster@localhost' }), died]);
    if (res.failed) console.error(`  ${name}: ${res.failed} failed, first: ${res.firstError}`);
    const delivered = path.join(dir, 'data', 'delivered');
    const until = Date.now() + 120_000;
    if (sink) await waitForSink(sink, res.sent, { deadline: until });
    else while ((existsSync(delivered) ? readdirSync(delivered).length : 0) < res.sent + 1 && Date.now() < until) await sleep(100);
    const cpuPerMessage = (cpuMs(child.pid!) - cpuBefore) / res.sent;
    await read(`after ${res.sent} messages (${res.msgsPerSec.toFixed(0)} msg/s to 250, ${cpuPerMessage.toFixed(2)} CPU ms each)`);
    await sleep(settleSecs * 1000);
    await read(`${settleSecs} s later`);
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const mb = (bytes: number) => (bytes / 1048576).toFixed(1);
const sink = relay === 'sink' ? await startSink() : undefined;
try {
  const started = new Date().toISOString();
  const all: Array<[string, Row[]]> = [];
  for (const c of cases) all.push([c, await runCase(c, sink)]);
  console.log(`\nMemory: ${total} messages of ${size} bytes over ${connections} connections, relay ${relay}, node args "${extraNodeArgs.join(' ')}" (${started})\n`);
  console.log('| case | state | RSS MB | PSS MB | heap used / total MB | external / array buffers MB | new space MB | after a full GC: heap used / RSS MB | modules |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [c, rows] of all) {
    for (const r of rows) {
      const a = r.probe.asIs;
      const g = r.probe.afterGc;
      console.log(`| ${c} | ${r.state} | ${(r.rssKb / 1024).toFixed(1)} | ${(r.pssKb / 1024).toFixed(1)} | ${mb(a.heap.used)} / ${mb(a.heap.total)} | ${mb(a.memory.external)} / ${mb(a.memory.arrayBuffers)} | ${mb(a.spaces.new_space?.size ?? 0)} | ${mb(g.heap.used)} / ${mb(g.memory.rss)} | ${r.probe.modules.length} |`);
    }
  }
} finally { sink?.stop(); }
process.exit(0);
