// Child processes for benchmarks: the sink and the gateway, each on its own core time, with peak RSS read from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

const HERE = import.meta.dirname;
export const PROJECT = path.resolve(HERE, '..', '..', '..');

export interface Sink { port: number; count(): Promise<{ count: number; last: number }>; reset(): void; stop(): void; child: ChildProcess }

export async function startSink(): Promise<Sink> {
  const child = spawn(process.execPath, [path.join(HERE, 'sink-server.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
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
    stop() { child.stdin!.end(); child.kill(); },
  };
}

export function peakRssKb(pid: number): number {
  try { return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]); } catch { return 0; }
}

export interface GatewayProc { port: number; child: ChildProcess; dataDir: string; stop(): Promise<void> }

/** Starts `moat start` with `config` merged into a benchmark config; resolves once it listens. */
export async function startGatewayProcess(config: Record<string, unknown>, port: number): Promise<GatewayProc> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bench-'));
  const file = path.join(dataDir, 'mailmoat.yaml');
  writeFileSync(file, stringify({
    server: { hostname: 'bench.mailmoat', listen: [`127.0.0.1:${port}`] },
    domains: ['bench.example'], data_dir: dataDir,
    limits: { max_connections_per_ip: 1000, max_message_size: '50MB' },
    log: { level: 'info', format: 'json' },
    ...config,
  }));
  const child = spawn(process.execPath, [path.join(PROJECT, 'scripts', 'moat.js'), 'start', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('"mailmoat started"')) { buf = ''; resolve(); }
      if (buf.length > 100_000) buf = buf.slice(-1000);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (c) => reject(new Error(`gateway exited with ${c}`)));
  });
  child.stdout!.resume();
  return {
    port, child, dataDir,
    stop: () => new Promise<void>((r) => { child.once('exit', () => r()); child.kill('SIGTERM'); }),
  };
}
