// Preloaded into a gateway by `node --import` for scripts/bench/mime-stalls.ts: watches the gateway's own event loop
// (monitorEventLoopDelay) and, on SIGWINCH, writes the longest delay since the last reading to LOOP_PROBE_OUT and
// starts over, so each case reads the stalls of its own message. SIGWINCH as memory-probe.ts, for the same reason.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { renameSync, writeFileSync } from 'node:fs';

const out = process.env.LOOP_PROBE_OUT;
// 10 ms: finer costs the gateway timer turns for nothing, since the stalls that matter are hundreds of ms.
const histogram = monitorEventLoopDelay({ resolution: 10 });
histogram.enable();

// With LOOP_PROBE_GAPS set, every turn over 100 ms is noted by its start and end (µs on the clock a --cpu-prof profile
// uses), so that the profile's samples within it tell what held the loop.
const gapsFile = process.env.LOOP_PROBE_GAPS;
const gaps: Array<[number, number]> = [];
if (gapsFile) {
  let last = process.hrtime.bigint();
  setInterval(() => {
    const now = process.hrtime.bigint();
    if (now - last > 110_000_000n) gaps.push([Number(last / 1000n), Number(now / 1000n)]);
    last = now;
  }, 10).unref();
}

let seq = 0;
process.on('SIGWINCH', () => {
  if (!out) return;
  seq++;
  const reading = { seq, maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6, rssKb: process.memoryUsage().rss / 1024 };
  histogram.reset();
  const tmp = `${out}.tmp`;
  writeFileSync(tmp, JSON.stringify(reading));
  renameSync(tmp, out);
  if (gapsFile) writeFileSync(gapsFile, JSON.stringify(gaps));
});
