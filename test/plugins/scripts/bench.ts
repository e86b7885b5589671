// Cost of a trivial filter script per message: `node test/plugins/scripts/bench.ts [--calls=500] [--pool=2]`.
// Sends a snapshot of a typical 4 KB message through the sandbox pool: p50/p99 of one call at a time, then the
// throughput of calls kept `pool` deep. It measures the plugin's own cost, without SMTP.
import { ScriptPool } from '../../../plugins/scripts/pool.ts';
import type { Logger } from '../../../core/index.ts';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const calls = arg('calls', 500);
const size = arg('pool', 2);
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child() { return quiet; } };

const snapshot = JSON.stringify({
  id: 'bench', envelope: { from: 'a@example.org', to: ['b@example.com'] },
  client: { ip: '192.0.2.1', hostname: null, helo: 'mail.example.org', user: null, tls: true, trusted: false },
  headers: Array.from({ length: 15 }, (_, i) => ({ name: `X-Header-${i}`, value: 'v'.repeat(60) })),
  subject: 'Quarterly report', text: 'Lorem ipsum dolor sit amet. '.repeat(140), textTruncated: false,
  urls: ['https://example.org/a', 'https://example.net/b'], attachments: [], size: 4096, findings: [], score: 0,
});
const source = `module.exports = (m) => /viagra/i.test(m.text) ? { findings: [{ symbol: 'PILLS', score: 5 }] } : null;`;

const pool = await ScriptPool.start({ scripts: [{ name: 'trivial.js', source }], size, timeoutMs: 1000, memoryMb: 128, maxWaitMs: 5000, maxResultChars: 65536, log: quiet });
try {
  for (let i = 0; i < 50; i++) await pool.call(0, snapshot);
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const r = await pool.call(0, snapshot);
    times.push(performance.now() - t);
    if (!r.ok) throw new Error(JSON.stringify(r));
  }
  times.sort((a, b) => a - b);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: size * 2 }, async () => { while (next++ < calls) await pool.call(0, snapshot); }));
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({
    calls, pool: size, snapshot_bytes: snapshot.length,
    p50_ms: +times[Math.floor(calls * 0.5)].toFixed(3), p99_ms: +times[Math.floor(calls * 0.99)].toFixed(3),
    calls_per_s: Math.round(calls / (elapsed / 1000)),
    gateway_cpu_ms_per_call: +((cpu.user + cpu.system) / 1000 / calls).toFixed(3),
  }));
} finally {
  await pool.close();
}
