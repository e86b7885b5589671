// Preloaded into a gateway by `node --import` for scripts/bench/memory.ts: records every module the process loads and,
// on SIGWINCH, writes its memory figures to MEMORY_PROBE_OUT, so a reading costs the gateway nothing until asked.
// SIGWINCH because the gateway neither uses it nor ends on it (SIGUSR1/2 are taken by moat.js, SIGHUP is reload).
import { registerHooks } from 'node:module';
import { writeFileSync, renameSync } from 'node:fs';
import v8 from 'node:v8';

const out = process.env.MEMORY_PROBE_OUT;
// Each loaded module with the module that first asked for it, to find why something the config does not use is there.
const loaded = new Map<string, string | undefined>();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const r = nextResolve(specifier, context);
    if (!loaded.has(r.url)) loaded.set(r.url, context.parentURL);
    return r;
  },
});

function reading(): Record<string, unknown> {
  const heap = v8.getHeapStatistics();
  return {
    memory: process.memoryUsage(),
    heap: { used: heap.used_heap_size, total: heap.total_heap_size, external: heap.external_memory, malloced: heap.malloced_memory },
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }])),
  };
}

let seq = 0;
process.on('SIGWINCH', () => {
  if (!out) return;
  seq++;
  const asIs = reading();
  // --expose-gc gives a second reading after a full collection: what is live, not garbage waiting for a GC.
  const gc = (globalThis as { gc?: () => void }).gc;
  let afterGc: Record<string, unknown> | undefined;
  if (gc) { gc(); afterGc = reading(); }
  let snapshot: string | undefined;
  if (process.env.MEMORY_PROBE_SNAPSHOT_DIR) snapshot = v8.writeHeapSnapshot(`${process.env.MEMORY_PROBE_SNAPSHOT_DIR}/gateway-${seq}.heapsnapshot`);
  const tmp = `${out}.tmp`;
  writeFileSync(tmp, JSON.stringify({ seq, asIs, afterGc, snapshot, modules: [...loaded.keys()], importers: Object.fromEntries(loaded) }));
  renameSync(tmp, out);
});
