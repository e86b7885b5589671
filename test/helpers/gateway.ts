// Starts a real gateway for tests: in this process (startGateway, startRelayingGateway with its smarthost) or as a child
// process (spawnGateway), on free loopback ports.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { createGateway, type Gateway } from '../../core/gateway.ts';
import { validateConfig } from '../../core/config/load.ts';
import type { LogFields } from '../../core/log/types.ts';
import { freePort } from './ports.ts';
import { holdUntilExit } from './leftovers.ts';
import { startSmarthost, type Smarthost } from './smarthost.ts';

export interface TestGateway {
  gateway: Gateway;
  port: number;
  dataDir: string;
  /** Every log record the gateway wrote. */
  logs: LogFields[];
  stop(): Promise<void>;
}

export interface GatewayOptions {
  config?: Record<string, unknown>;
  dataDir?: string;
  quiet?: boolean;
  /** The gateway's own timings, shortened for a test that would otherwise wait them out (core/gateway.ts). */
  timings?: { retireAfterMs?: number; deliveryStopGraceMs?: number; dataStopGraceMs?: number };
}

/** Deep-merges plain objects; arrays and scalars in `over` replace those in `base`. */
export function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
      ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

function baseConfig(dataDir: string): Record<string, unknown> {
  return {
    server: { hostname: 'mx.test.example', listen: ['127.0.0.1:0'], trusted_proxies: ['127.0.0.1/32'] },
    domains: ['example.com'],
    data_dir: dataDir,
    queue: { retry_schedule: ['1s'], lifetime: '1h' },
    log: { level: 'debug', format: 'json' },
  };
}

/**
 * A gateway in this process. `config` is merged over test defaults: listen 127.0.0.1:0, domain example.com,
 * XCLIENT trusted from 127.0.0.1, a temp data_dir, delivery to files unless `smarthost` is given.
 */
export async function startGateway(opts: GatewayOptions = {}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'mailmoat-test-'));
  const raw = merge(baseConfig(dataDir), opts.config ?? {});
  const logs: LogFields[] = [];
  const end = holdUntilExit({ dir: opts.dataDir ? undefined : dataDir });
  let gateway: Gateway;
  try {
    const config = await validateConfig(raw);
    gateway = await createGateway({ config, logSink: { write() {} }, onLog: (r) => { logs.push(r); }, ...opts.timings });
  } catch (err) {
    // A start that fails gives the caller no stop() to call.
    end();
    throw err;
  }
  return {
    gateway, port: gateway.port(), dataDir, logs,
    async stop() {
      await gateway.stop();
      end();
    },
  };
}

export interface RelayingGateway extends TestGateway {
  /** The recording smarthost the gateway relays to. */
  sink: Smarthost;
}

/**
 * A recording smarthost and an in-process gateway relaying to it, the setup most end-to-end tests share.
 * The gateway's `smarthost` setting is always the sink's URL.
 * stop() stops the gateway, then the sink.
 */
export async function startRelayingGateway(opts: GatewayOptions = {}): Promise<RelayingGateway> {
  const sink = await startSmarthost();
  let testGateway: TestGateway;
  try {
    testGateway = await startGateway({ ...opts, config: { ...opts.config, smarthost: `smtp://127.0.0.1:${sink.port}` } });
  } catch (err) {
    await sink.stop();
    throw err;
  }
  return {
    ...testGateway, sink,
    async stop() {
      try { await testGateway.stop(); } finally { await sink.stop(); }
    },
  };
}

export interface SpawnedGateway {
  child: ChildProcess;
  port: number;
  dataDir: string;
  configFile: string;
  output: string[];
  /** Resolves when the child has exited. */
  exited: Promise<number | null>;
  /** Signals the child and waits for its exit, then removes the data dir unless the caller gave it. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const PROJECT = path.resolve(import.meta.dirname, '..', '..');

/**
 * A gateway in a child process (`moat start --config`), for restarts, SIGKILL and several gateways at once.
 * A restart on the same data dir needs one the test made (`dataDir`): kill() removes a dir it made itself.
 */
export async function spawnGateway(opts: { config?: Record<string, unknown>; dataDir?: string; port?: number } = {}): Promise<SpawnedGateway> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'mailmoat-child-'));
  const port = opts.port ?? await freePort();
  const raw = merge(merge(baseConfig(dataDir), { server: { listen: [`127.0.0.1:${port}`] }, log: { level: 'info' } }), opts.config ?? {});
  const configFile = path.join(dataDir, 'mailmoat.yaml');
  writeFileSync(configFile, stringify(raw));
  const child = spawn(process.execPath, [path.join(PROJECT, 'scripts', 'moat.js'), 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const end = holdUntilExit({ child, dir: opts.dataDir ? undefined : dataDir });
  const output: string[] = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    end();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        output.push(d.toString());
        if (output.join('').includes('"mailmoat started"')) resolve();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
      exited.then((code) => reject(new Error(`gateway exited (${code}) before starting:\n${output.join('')}`)));
      setTimeout(() => reject(new Error(`gateway did not start in 20s:\n${output.join('')}`)), 20_000).unref();
    });
  } catch (err) {
    // The caller gets no handle to kill: a child that never started must not outlive the test, nor its dir.
    await kill('SIGKILL');
    throw err;
  }
  return { child, port, dataDir, configFile, output, exited, kill };
}
