// The file system work of a queue alone, no SMTP: one file per message (create, write, fsync, group-committed
// directory fsync, serialised unlink) against appends to one journal segment with group-committed fdatasync.
// Usage: node scripts/bench/queue-fs.ts [--messages=3000] [--concurrency=20] [--dir=PATH] (PATH on the disk to measure)
import { closeSync, fdatasync, fsync, mkdtempSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';

const arg = (name: string, def: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const total = Number(arg('messages', '3000'));
const concurrency = Number(arg('concurrency', '20'));
const base = mkdtempSync(path.join(arg('dir', os.tmpdir()), 'mailmoat-queue-fs-'));
const fsyncFd = promisify(fsync);
const fdatasyncFd = promisify(fdatasync);
const body = Buffer.alloc(4300, 'x');

/** Calls that arrive while one runs share the next run. */
function groupCommit(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const sync = (): Promise<void> => {
    if (!running) { running = run().finally(() => { running = undefined; }); return running; }
    next ??= running.then(() => { next = undefined; return sync(); });
    return next;
  };
  return sync;
}

async function measure(name: string, perMessage: (i: number) => Promise<void>, drain: () => Promise<void>): Promise<void> {
  let i = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => { while (i < total) await perMessage(i++); }));
  const acked = performance.now() - t0;
  await drain();
  const all = performance.now() - t0;
  console.log(`| ${name} | ${(total / acked * 1000).toFixed(0)} | ${(total / all * 1000).toFixed(0)} |`);
}

console.log(`\nQueue file system work: ${total} messages of ${body.length} bytes, ${concurrency} at once, in ${base}\n`);
console.log('| layout | durable msg/s | msg/s until removed |');
console.log('|---|---|---|');

const filesDir = path.join(base, 'files');
mkdirSync(filesDir);
const dirSync = groupCommit(async () => { const fd = openSync(filesDir, 'r'); try { await fsyncFd(fd); } finally { closeSync(fd); } });
let removals = Promise.resolve();
await measure('one file per message', async (i) => {
  const file = path.join(filesDir, `${i}.eml`);
  const fd = openSync(file, 'wx');
  try { writeSync(fd, body); await fsyncFd(fd); } finally { closeSync(fd); }
  await dirSync();
  removals = removals.then(() => unlink(file));
}, () => removals);

const segment = openSync(path.join(base, 'journal.seg'), 'a');
const segmentSync = groupCommit(() => fdatasyncFd(segment));
await measure('journal segment', async () => { writeSync(segment, body); await segmentSync(); }, async () => undefined);
closeSync(segment);
rmSync(base, { recursive: true, force: true });
