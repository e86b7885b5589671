// `npm run bench:bayes-files`: how long a running gateway's event loop stalls while the bayes plugin reloads its
// dictionary and flushes learned counts into it (the read-merge-write under the lock, every flush_interval while
// auto-training), with the file work on the worker thread (LiveDictionary) beside the same work on the event loop
// (as it was done before), on the same file in the same run. Every SMTP session waits out a stall.
// Options: --dict FILE (default: dictionaries/default.tab), --runs N (3).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LiveDictionary } from '../../plugins/bayes/live-dictionary.ts';
import { loadOrEmpty, updateDictionary } from '../../plugins/bayes/engine/persist.ts';
import { Dictionary } from '../../plugins/bayes/engine/dictionary.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const source = path.resolve(opt('--dict', path.join(here, '../../dictionaries/default.tab')));
const runs = Math.max(1, Number(opt('--runs', '3')));

/** Runs `work` while a 1 ms timer watches the event loop; returns the work's time and the longest stall seen. */
async function watched(work: () => Promise<unknown>): Promise<{ ms: number; stall: number }> {
  let last = performance.now();
  let stall = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  stall = 0;
  last = performance.now();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return { ms, stall };
}

const lesson = (d: { learn(tokens: Iterable<string>, spam: boolean): void }, i: number) => d.learn([`stall-bench-${i}`, 'stall-bench'], i % 2 === 0);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-stall-'));
  const file = path.join(dir, 'bench.tab');
  fs.copyFileSync(source, file);
  const rows: Record<string, Array<{ ms: number; stall: number }>> = {};
  const note = (k: string, r: { ms: number; stall: number }) => (rows[k] ??= []).push(r);
  const live = new LiveDictionary(file);
  try {
    await live.load();
    console.log(`dictionary ${source}: ${live.baseSize} tokens, ${(fs.statSync(file).size / 1e6).toFixed(1)} MB; ${runs} runs, taking turns`);
    for (let r = 0; r < runs; r++) {
      note('reload, worker thread', await watched(() => live.reloadIfChanged(true)));
      note('reload, event loop', await watched(() => loadOrEmpty(file)));
      lesson(live, r);
      note('flush, worker thread', await watched(() => live.flush()));
      const batch = new Dictionary();
      lesson(batch, r);
      note('flush, event loop', await watched(() => updateDictionary(file, (d) => d.merge(batch))));
    }
  } finally {
    await live.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  console.log(`  ${'what'.padEnd(24)} ${'took ms'.padStart(9)} ${'longest stall ms'.padStart(17)}  (medians; range of stalls)`);
  for (const [k, v] of Object.entries(rows)) {
    const stalls = v.map((x) => x.stall);
    console.log(`  ${k.padEnd(24)} ${median(v.map((x) => x.ms)).toFixed(0).padStart(9)} ${median(stalls).toFixed(0).padStart(17)}  (${Math.min(...stalls).toFixed(0)}–${Math.max(...stalls).toFixed(0)})`);
  }
  const ratio = (a: string, b: string) => (median(rows[b].map((x) => x.stall)) / Math.max(1, median(rows[a].map((x) => x.stall)))).toFixed(0);
  console.log(`  stall on the event loop ÷ on the worker thread: reload ×${ratio('reload, worker thread', 'reload, event loop')}, flush ×${ratio('flush, worker thread', 'flush, event loop')}`);
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
