// `npm run bench`: the same load through the gateway (with fsync'd queue) and straight to the sink (the ceiling), side by side; then the peers (peers.ts).
import { startSink, startGatewayProcess, waitForSink, peakRssKb, cpuMs } from './lib/processes.ts';
import { runLoad, makeMessage } from './lib/load.ts';
import { freePort } from '../../test/helpers/ports.ts';

const total = Number(process.argv.find((a) => a.startsWith('--messages='))?.split('=')[1] ?? 5000);
const only = process.argv.find((a) => a.startsWith('--case='))?.split('=')[1];
const allCases = [
  { size: 4 * 1024, connections: 20 },
  { size: 4 * 1024, connections: 100 },
  { size: 100 * 1024, connections: 20 },
  { size: 100 * 1024, connections: 100 },
];
const cases = only ? allCases.filter((c) => `${c.size / 1024}k${c.connections}` === only) : allCases;

const sink = await startSink();
const rows: string[] = [];
const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
try {
  for (const c of cases) {
    const message = makeMessage(c.size);
    const label = `${c.size / 1024} KB, ${c.connections} conn`;
    // ceiling: the load straight into the sink
    sink.reset();
    const ceiling = await runLoad(sink.port, { total, connections: c.connections, message });
    // the gateway: relays to the same sink; time to 250 and time until the sink has them all
    sink.reset();
    const gw = await startGatewayProcess({ smarthost: { url: `smtp://127.0.0.1:${sink.port}`, connections: 16 }, queue: { concurrency: 64 } }, await freePort());
    try {
      await runLoad(gw.port, { total: 200, connections: 10, message }); // warm-up
      await waitForSink(sink, 200);
      sink.reset();
      const t0 = Date.now();
      const cpu0 = cpuMs(gw.child.pid!);
      const res = await runLoad(gw.port, { total, connections: c.connections, message });
      const allAt = ((await waitForSink(sink, res.sent)).last - t0) / 1000;
      const cpuPerMsg = (cpuMs(gw.child.pid!) - cpu0) / res.sent;
      const rss = peakRssKb(gw.child.pid!);
      if (res.failed) console.error(`${label}: ${res.failed} failed, first: ${res.firstError}`);
      const endToEnd = res.sent / allAt;
      rows.push(`| ${label} | ${fmt(res.msgsPerSec)} | ${fmt(endToEnd)} | ${fmt(ceiling.msgsPerSec)} | ${fmt(res.msgsPerSec / ceiling.msgsPerSec, 2)} | ${fmt(res.p50, 1)} / ${fmt(res.p99, 1)} | ${fmt(ceiling.p50, 1)} / ${fmt(ceiling.p99, 1)} | ${fmt(rss / 1024)} | ${fmt(cpuPerMsg, 2)} | ${fmt(1000 / cpuPerMsg)} |`);
    } finally { await gw.stop(); }
    console.error(`done: ${label}`);
  }
} finally { sink.stop(); }

console.log(`\nMailmoat benchmark: ${total} messages per case, gateway with fsync'd queue relaying to a loopback sink (${new Date().toISOString()})\n`);
console.log('| load | gateway msg/s (to 250) | gateway msg/s (all at sink) | sink alone msg/s | ratio to ceiling | gateway p50 / p99 ms to 250 | sink p50 / p99 ms | gateway peak RSS MB | gateway CPU ms/msg | msgs per CPU-second |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);

// The peers in the same run: the 4 KB / 20-connection load through Postfix and Haraka when they are installed, each
// relaying to the same sink, with Mailmoat's ratios to both (`--no-peers` leaves them out, and so does `--case=…`, which
// asks for one case; `npm run bench:peers` runs only them).
if (!only && !process.argv.includes('--no-peers')) await import('./peers.ts');
