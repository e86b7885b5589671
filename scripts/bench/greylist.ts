// Benchmark: the greylist check of known triplets at RCPT, per store, against the same chain without greylisting.
//
// Two parts: (1) the rcptTo handler alone on known triplets, timed per call against a no-op handler, for the
// memory, embedded and Redis stores; (2) the relay path: whole SMTP transactions (own connection, XCLIENT address,
// MAIL, RCPT, DATA, relay to a recording smarthost) through gateways without greylisting, with it on the embedded
// store, and with it on Redis, in alternating rounds. Every triplet is known beforehand, as for mail from
// established senders. Figures are also printed as ratios because the machine is shared.
// Usage: node scripts/bench/greylist.ts [--lookups N] [--triplets N] [--messages N] [--concurrency C]
// Needs redis-server on PATH for the Redis figures (skipped with a note otherwise).
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HookContext, Outcome, Services, StateStore } from '../../core/index.ts';
import { EmbeddedStore } from '../../core/store/embedded-store.ts';
import { MemoryStore } from '../../core/store/memory-store.ts';
import { RedisStore } from '../../core/store/redis-store.ts';
import { validate } from '../../core/config/schema.ts';
import { percentile } from '../../core/metrics.ts';
import greylist from '../../plugins/greylist/index.ts';
import { configSchema } from '../../plugins/greylist/config.ts';
import { Greylister } from '../../plugins/greylist/greylister.ts';
import { clientNetwork } from '../../plugins/greylist/address.ts';
import { exitOnSignals, holdUntilExit } from '../../test/helpers/leftovers.ts';

type Handler = (ctx: HookContext) => Promise<Outcome | void> | Outcome | void;

export interface LookupFigures {
  store: string;
  lookups: number;
  /** Sequential lookups per second through the handler. */
  perSecond: number;
  /** Lookups per second with `concurrency` in flight (SMTP sessions in parallel). */
  perSecondConcurrent: number;
  /** Added latency of one lookup, in ms, over the same loop without greylisting. */
  p50: number;
  p99: number;
  max: number;
}

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };

function clientIp(i: number): string { return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`; }

function contextFor(i: number, services: Services): HookContext {
  const ip = clientIp(i);
  return {
    hook: 'rcptTo',
    session: { id: `s${i}`, remote: { ip, port: 40000 }, local: { ip: '127.0.0.1', port: 25 }, listener: 'smtp', tls: false, relayNetwork: false, trusted: false, allowlisted: false },
    log: silent,
    mailFrom: { address: `sender${i}@example.com`, local: `sender${i}`, domain: 'example.com', params: {} },
    recipients: [],
    rcpt: { address: `rcpt${i}@example.net`, local: `rcpt${i}`, domain: 'example.net', params: {} },
    findings: [], services, state: {}, connectionState: {},
    addFinding() {}, addHeader() {}, removeHeader() {}, async rewriteMessage() {}, discardRecipient() {}, redirectRecipient() {}, addRecipient() {}, setVerifiedClientName: () => false,
  };
}

/** Times `handler` on `lookups` contexts over `triplets` known triplets; returns per-call times in ms. */
async function timeCalls(handler: Handler, ctxs: HookContext[], lookups: number): Promise<{ times: number[]; wall: number }> {
  const times = new Array<number>(lookups);
  const t0 = performance.now();
  for (let i = 0; i < lookups; i++) {
    const ctx = ctxs[i % ctxs.length];
    const s = performance.now();
    const out = await handler(ctx);
    times[i] = performance.now() - s;
    if (out && out.action !== 'continue') throw new Error(`a known triplet was not let through: ${JSON.stringify(out)}`);
  }
  return { times, wall: performance.now() - t0 };
}

async function concurrentRate(handler: Handler, ctxs: HookContext[], lookups: number, concurrency: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < lookups) await handler(ctxs[next++ % ctxs.length]);
  }));
  return lookups / ((performance.now() - t0) / 1000);
}

export async function benchStore(name: string, store: StateStore, opts: { lookups: number; triplets: number; concurrency: number }): Promise<LookupFigures> {
  const cfg = validate(configSchema, {}).value;
  const services: Services = { dns: undefined as never, store, dataDir: '', hostname: 'bench.example', isLocalDomain: () => false, relayTarget: () => undefined };
  const instance = await greylist.create(cfg, { log: silent, services, projectDir: '', configDir: '' });
  const handler = instance.hooks.rcptTo!;
  const ctxs = Array.from({ length: opts.triplets }, (_, i) => contextFor(i, services));
  // Make every triplet known, as after its first retry.
  const g = new Greylister(store, { delay: cfg.delay, retryWindow: cfg.retry_window, remember: cfg.remember, rememberBy: 'triplet' });
  for (let i = 0; i < opts.triplets; i++) {
    await g.remember({ client: clientNetwork(clientIp(i), 24, 64), sender: `sender${i}@example.com`, rcpt: `rcpt${i}@example.net` }, Date.now() - 60_000, Date.now(), 'bench');
  }
  const none: Handler = () => undefined;
  await timeCalls(handler, ctxs, Math.min(2000, opts.lookups)); // warm-up: JIT, statement cache, connection
  const base = await timeCalls(none, ctxs, opts.lookups);
  const run = await timeCalls(handler, ctxs, opts.lookups);
  const baseSorted = [...base.times].sort((a, b) => a - b);
  const sorted = [...run.times].sort((a, b) => a - b);
  const rate = await concurrentRate(handler, ctxs, opts.lookups, opts.concurrency);
  return {
    store: name, lookups: opts.lookups,
    perSecond: opts.lookups / (run.wall / 1000),
    perSecondConcurrent: rate,
    p50: percentile(sorted, 0.5) - percentile(baseSorted, 0.5),
    p99: percentile(sorted, 0.99) - percentile(baseSorted, 0.99),
    max: sorted[sorted.length - 1],
  };
}

async function startBenchRedis(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) return undefined;
  const { startRedis } = await import('../../test/helpers/redis.ts');
  return startRedis();
}

export interface RelayFigures { label: string; msgsPerSec: number; p50: number; p99: number; failures: number }

/** Sends `count` messages through a gateway started with `config` (plus `prepare` on its store); times each transaction. */
async function relayRun(label: string, config: Record<string, unknown>, count: number, concurrency: number,
  prepare?: (store: StateStore) => Promise<void>): Promise<RelayFigures> {
  const { startGateway } = await import('../../test/helpers/gateway.ts');
  const { startSmarthost } = await import('../../test/helpers/smarthost.ts');
  const { timedSessions } = await import('./lib/sessions.ts');
  const sink = await startSmarthost();
  try {
    const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${sink.port}`, log: { level: 'warn' }, ...config } });
    try {
      await prepare?.(gw.gateway.runtime.services.store);
      const figures = await timedSessions(gw.port, { count, concurrency, addr: relayIp });
      return { label, ...figures };
    } finally { await gw.stop(); }
  } finally { await sink.stop(); }
}

const RELAY_NETS = 250;
function relayIp(i: number): string { return `93.184.${i % RELAY_NETS}.${(Math.floor(i / RELAY_NETS) % 250) + 1}`; }

/** Makes the triplet of every relay-bench network known, as after its first retry. */
async function knowRelayTriplets(store: StateStore): Promise<void> {
  const cfg = validate(configSchema, {}).value;
  const g = new Greylister(store, { delay: cfg.delay, retryWindow: cfg.retry_window, remember: cfg.remember, rememberBy: 'triplet' });
  for (let n = 0; n < RELAY_NETS; n++) {
    await g.remember({ client: clientNetwork(relayIp(n), 24, 64), sender: 'joe@sender.bench', rcpt: 'user@example.com' }, Date.now() - 60_000, Date.now(), 'bench');
  }
}

async function relayBench(messages: number, concurrency: number, redisUrl?: string): Promise<void> {
  const plugin = { plugins: [{ name: 'greylist' }] };
  const variants: Array<[string, Record<string, unknown>, ((s: StateStore) => Promise<void>)?]> = [
    ['no greylisting', {}],
    ['greylist, embedded', plugin, knowRelayTriplets],
  ];
  if (redisUrl) variants.push(['greylist, redis', { ...plugin, state: { backend: 'redis', redis: { url: redisUrl, prefix: 'bench-relay:' } } }, knowRelayTriplets]);
  const rounds = 2;
  const all = new Map<string, RelayFigures[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [label, config, prepare] of r % 2 ? [...variants].reverse() : variants) {
      const f = await relayRun(label, config, Math.ceil(messages / rounds), concurrency, prepare);
      all.set(label, [...(all.get(label) ?? []), f]);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`\nrelay path: ${messages} messages per variant over ${rounds} alternating rounds, concurrency ${concurrency}, known triplets`);
  const base = all.get('no greylisting')!;
  const baseRate = mean(base.map((f) => f.msgsPerSec));
  const baseP99 = mean(base.map((f) => f.p99));
  for (const [label, fs] of all) {
    const rate = mean(fs.map((f) => f.msgsPerSec));
    const p50 = mean(fs.map((f) => f.p50));
    const p99 = mean(fs.map((f) => f.p99));
    const failures = fs.reduce((a, f) => a + f.failures, 0);
    console.log(`${label.padEnd(20)} ${rate.toFixed(1).padStart(7)} msg/s (${(rate / baseRate).toFixed(2)}x)  p50 ${p50.toFixed(1).padStart(6)} ms  p99 ${p99.toFixed(1).padStart(6)} ms (added ${(p99 - baseP99).toFixed(2)} ms)  failures ${failures}`);
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<LookupFigures[]> {
  const { values } = parseArgs({ args: argv, options: {
    lookups: { type: 'string' }, triplets: { type: 'string' }, concurrency: { type: 'string' }, messages: { type: 'string' },
  } });
  const opts = { lookups: Number(values.lookups ?? 20_000), triplets: Number(values.triplets ?? 5_000), concurrency: Number(values.concurrency ?? 32) };
  const messages = Number(values.messages ?? 600);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bench-gl-'));
  const end = holdUntilExit({ dir });
  const results: LookupFigures[] = [];
  try {
    const mem = new MemoryStore();
    results.push(await benchStore('memory (reference)', mem, opts));
    await mem.close();
    const emb = new EmbeddedStore(path.join(dir, 'state.db'), { purgeIntervalMs: 0 });
    results.push(await benchStore('embedded (SQLite)', emb, opts));
    await emb.close();
    const redis = await startBenchRedis();
    try {
      if (redis) {
        const rs = await RedisStore.connect(redis.url, { prefix: 'bench:' });
        results.push(await benchStore('redis (loopback)', rs, opts));
        await rs.close();
      } else {
        console.log('redis-server not installed: Redis figures skipped (apt-get install redis-server)');
      }
      printLookups(results, opts);
      if (messages > 0) await relayBench(messages, 8, redis?.url);
    } finally {
      await redis?.stop();
    }
  } finally {
    end();
  }
  return results;
}

function printLookups(results: LookupFigures[], opts: { lookups: number; triplets: number; concurrency: number }): void {
  console.log(`greylist lookup of known triplets at RCPT: ${opts.lookups} lookups over ${opts.triplets} triplets, concurrency ${opts.concurrency}`);
  console.log('store                 lookups/s   concurrent/s   added p50 ms   added p99 ms   max ms');
  for (const r of results) {
    console.log(`${r.store.padEnd(20)}  ${r.perSecond.toFixed(0).padStart(9)}  ${r.perSecondConcurrent.toFixed(0).padStart(13)}  ${r.p50.toFixed(4).padStart(13)}  ${r.p99.toFixed(4).padStart(13)}  ${r.max.toFixed(2).padStart(7)}`);
  }
  const emb = results.find((r) => r.store.startsWith('embedded'));
  if (emb) console.log(`embedded added p99: ${(emb.p99 * 1000).toFixed(0)} µs (goal < 1000 µs): ${emb.p99 < 1 ? 'met' : 'NOT met'}`);
}

if (import.meta.main) {
  exitOnSignals();
  await main();
}
