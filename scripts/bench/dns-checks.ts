// Benchmark: the relay path with the DNS checks (rbl, ptr, sender-domain, urlbl) against the loopback DNS server, vs without them.
//
// Both gateways run in this process with the same smarthost; every message comes on its own connection with a
// new XCLIENT address, so the blocklist and PTR lookups really go to the DNS server (sender and URL domains
// repeat and are answered from the cache, as in real traffic). Figures are printed as ratios, since absolute
// numbers depend on the machine's load.
// Usage: node scripts/bench/dns-checks.ts [--messages N] [--concurrency C]
import { parseArgs } from 'node:util';
import { startDnsServer } from '../../test/helpers/dns-server.ts';
import { exitOnSignals } from '../../test/helpers/leftovers.ts';
import { startGateway } from '../../test/helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../test/helpers/smarthost.ts';
import { timedSessions } from './lib/sessions.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '400' }, concurrency: { type: 'string', default: '8' } } });
const total = Number(values.messages);
const concurrency = Number(values.concurrency);

const checks = [
  { name: 'rbl', zones: [
    { zone: 'bl.bench', action: 'reject' }, { zone: 'rcpt.bench', action: 'reject_rcpt' }, { zone: 'score.bench', score: 2 },
  ], allow_zones: [{ zone: 'wl.bench' }] },
  { name: 'ptr', mode: 'score', fcrdns: true },
  { name: 'sender-domain' },
  { name: 'urlbl', zones: [{ zone: 'dbl.bench' }, { zone: 'ipbl.bench', type: 'ip' }] },
];

async function run(label: string, sink: Smarthost, config: Record<string, unknown>, offset: number, count = total) {
  const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${sink.port}`, log: { level: 'info' }, ...config } });
  const body = 'Offer at https://www.shop.bench/deal and http://198.51.100.20/x and https://news.bench/\r\n';
  const figures = await timedSessions(gw.port, { count, concurrency, body, addr: (i) => `93.184.${(offset + i) >> 8 & 255}.${(offset + i) & 255}` })
    .finally(() => gw.stop());
  const r = { label, ...figures };
  console.log(`${label.padEnd(22)} ${r.msgsPerSec.toFixed(1).padStart(7)} msg/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  failures ${r.failures}`);
  return r;
}

exitOnSignals();
const dns = await startDnsServer({
  zones: {
    'bl.bench': {}, 'rcpt.bench': {}, 'score.bench': {}, 'wl.bench': {}, 'dbl.bench': {}, 'ipbl.bench': {},
    'sender.bench': { '@': { MX: '10 mx.sender.bench' }, mx: { A: '192.0.2.25' } },
    'shop.bench': { www: { A: '192.0.2.80' } },
    '184.93.in-addr.arpa': { '*': { PTR: 'host.sender.bench' } },
  },
});
const sink = await startSmarthost();
try {
  console.log(`${total} messages per run, ${concurrency} concurrent connections, each with its own XCLIENT address`);
  // Warm up (JIT, sockets) so that the first measured run is not penalised; then alternate to spread load changes.
  await run('warm-up (not counted)', sink, { dns: { servers: [dns.address] }, plugins: checks }, 40_000, Math.min(100, total));
  const runs = [];
  for (let round = 0; round < 2; round++) {
    const base = await run(`relay only #${round + 1}`, sink, { dns: { servers: [dns.address] } }, round * 10_000);
    const full = await run(`relay + DNS checks #${round + 1}`, sink, { dns: { servers: [dns.address] }, plugins: checks }, 20_000 + round * 10_000);
    runs.push({ base, full });
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const tput = mean(runs.map((r) => r.full.msgsPerSec)) / mean(runs.map((r) => r.base.msgsPerSec));
  const p99 = mean(runs.map((r) => r.full.p99)) / mean(runs.map((r) => r.base.p99));
  console.log(`ratio (checks / relay only, mean of 2 rounds): throughput ${tput.toFixed(2)}, p99 time to 250 ${p99.toFixed(2)}`);
} finally {
  await sink.stop();
  await dns.stop();
}
