// Child processes for benchmarks: the sink and the gateway, each on its own core time, with peak RSS read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { endChild, exitOnSignals, holdUntilExit } from '../../../test/helpers/leftovers.ts';
import { productionNodeArgs } from './gateway-node-args.ts';

// An interrupted benchmark (Ctrl-C) ends the processes and dirs it started, as a finished one does.
exitOnSignals();

const HERE = import.meta.dirname;
export const PROJECT = path.resolve(HERE, '..', '..', '..');

export interface Sink { port: number; count(): Promise<{ count: number; last: number }>; reset(): void; stop(): void; child: ChildProcess }

export async function startSink(): Promise<Sink> {
  const child = spawn(process.execPath, [path.join(HERE, 'sink-server.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const end = holdUntilExit({ child });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(l: string) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = () => new Promise<string>((r) => waiting.push(r));
  const port = Number((await next()).split('=')[1]);
  return {
    port, child,
    async count() {
      child.stdin!.write('count\n');
      const l = await next();
      const m = /count=(\d+) bytes=\d+ last=(\d+)/.exec(l)!;
      return { count: Number(m[1]), last: Number(m[2]) };
    },
    reset() { child.stdin!.write('reset\n'); },
    stop() { child.stdin!.end(); child.kill(); end(); },
  };
}

/**
 * Resolves once the sink holds `n` messages, or with what it holds when `deadline` (a Date.now() time) has passed;
 * `last` is when its latest message arrived, so the figures do not depend on `pollMs`.
 */
export async function waitForSink(sink: Sink, n: number, { deadline = Infinity, pollMs = 50 } = {}): Promise<{ count: number; last: number }> {
  for (;;) {
    const got = await sink.count();
    if (got.count >= n || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export function peakRssKb(pid: number): number {
  try { return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]); } catch { return 0; }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces), from the state on: [1] is the ppid. */
function statFields(pid: number): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
}

/** CPU time (user + system) a process has used so far, in milliseconds; contention-independent, unlike wall time. */
export function cpuMs(pid: number): number {
  try {
    const fields = statFields(pid);
    return (Number(fields[11]) + Number(fields[12])) * (1000 / 100); // utime, stime in clock ticks (USER_HZ = 100)
  } catch { return 0; }
}

/** Proportional set size in kB: each shared page is shared out among the processes that map it. */
export function pssKb(pid: number): number {
  try { return Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]); } catch { return 0; }
}

/** PSS of `pid` and every process it started (Postfix's master forks smtpd, cleanup, qmgr, smtp…). */
export function treePssKb(pid: number): number {
  let total = pssKb(pid);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) === pid) total += pssKb(Number(entry));
    } catch { /* gone meanwhile */ }
  }
  return total;
}

/**
 * True when `port` answers with an SMTP greeting that names `hostname`, within `ms`; with `proxy`, after a PROXY
 * header, since a listener that expects one greets only then.
 */
function greetsAs(port: number, hostname: string, proxy: boolean, ms = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    let got = '';
    const done = (ok: boolean) => { clearTimeout(timer); s.destroy(); resolve(ok); };
    const s = net.connect(port, '127.0.0.1', () => { if (proxy) s.write('PROXY TCP4 127.0.0.1 127.0.0.1 40000 25\r\n'); });
    const timer = setTimeout(() => done(false), ms);
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\n')) done(/^220[ -]/.test(got) && got.split('\n')[0].includes(hostname));
    });
    s.on('error', () => done(false));
    s.on('end', () => done(false));
  });
}

/**
 * Holds a peer's process and dir until this process exits (Ctrl-C included) and returns the peer's stop(): SIGTERM,
 * SIGKILL if it has not exited within `graceMs`, then its dir removed. Serves a stop() and a start that failed alike.
 */
export function holdPeer(child: ChildProcess, dir: string, graceMs = 3000): () => Promise<void> {
  const end = holdUntilExit({ child, dir });
  return async () => {
    await endChild(child, graceMs);
    end();
  };
}

export interface GatewayProc { port: number; child: ChildProcess; dataDir: string; stop(): Promise<void> }

/**
 * Starts `moat start` with `config` over a benchmark config (its sections replace the defaults', except `server`, whose
 * keys are added to the listen address); resolves once it greets on `port` under a host name of its own. `stop()`
 * removes its data dir.
 */
export async function startGatewayProcess(config: Record<string, unknown>, port: number): Promise<GatewayProc> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bench-'));
  const file = path.join(dataDir, 'mailmoat.yaml');
  const { server, ...sections } = config;
  // A name of this start's own: its greeting tells this gateway from any other process that holds the port.
  const hostname = `bench-${path.basename(dataDir).slice('mailmoat-bench-'.length).toLowerCase()}.mailmoat`;
  writeFileSync(file, stringify({
    server: { listen: [`127.0.0.1:${port}`], ...(server as Record<string, unknown> | undefined), hostname },
    domains: ['bench.example'], data_dir: dataDir,
    limits: { max_connections_per_ip: 1000, max_message_size: '50MB' },
    log: { level: 'info', format: 'json' },
    ...sections,
  }));
  // The log goes to a file, as in production: a pipe to this busy process would stall the gateway's synchronous stdout writes.
  const logFile = path.join(dataDir, 'gateway.log');
  const fd = openSync(logFile, 'w');
  // Production's flags, then BENCH_GATEWAY_NODE_ARGS: "--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway alone,
  // not the load or the sink; "--max-semi-space-size=0" measures it with V8's default young generation.
  const nodeArgs = [...productionNodeArgs(), ...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, path.join(PROJECT, 'scripts', 'moat.js'), 'start', '--config', file], { stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  // A gateway drains its connections and queue writes on SIGTERM: it gets longer than a peer before SIGKILL.
  const stop = holdPeer(child, dataDir, 30_000);
  const deadline = Date.now() + 30_000;
  // Ready when the port greets with this gateway's name (the log may be set above info, so its start line is not a
  // signal; and a port that merely answers may belong to another process, while this gateway fails with EADDRINUSE).
  const proxy = (server as { proxy_protocol?: boolean } | undefined)?.proxy_protocol === true;
  while (!(await greetsAs(port, hostname, proxy))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = readFileSync(logFile, 'utf8').slice(-2000);
      await stop();
      throw new Error(`gateway did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child, dataDir, stop };
}
