// The file system work of a queue alone, no SMTP: one file per message (create, write, fsync, group-committed
// directory fsync, serialised unlink) against appends to one journal segment with group-committed fdatasync.
// Usage: node scripts/bench/queue-fs.ts [--messages=3000] [--concurrency=20] [--dir=PATH] (PATH on the disk to measure)
import { closeSync, mkdtempSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { DirSync } from '../../core/queue/dir-sync.ts';
import { exitOnSignals, holdUntilExit } from '../../test/helpers/leftovers.ts';
import { GroupSync, fdatasyncFd, fsyncFd } from '../../core/queue/group-sync.ts';

const { values } = parseArgs({ options: {
  messages: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '20' }, dir: { type: 'string', default: os.tmpdir() },
} });
const total = Number(values.messages);
const concurrency = Number(values.concurrency);
exitOnSignals();
const base = mkdtempSync(path.join(values.dir, 'mailmoat-queue-fs-'));
const endBase = holdUntilExit({ dir: base });
const body = Buffer.alloc(4300, 'x');

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

try {
  const filesDir = path.join(base, 'files');
  mkdirSync(filesDir);
  const dirSync = new DirSync(filesDir);
  let removals = Promise.resolve();
  await measure('one file per message', async (i) => {
    const file = path.join(filesDir, `${i}.eml`);
    const fd = openSync(file, 'wx');
    try { writeSync(fd, body); await fsyncFd(fd); } finally { closeSync(fd); }
    await dirSync.sync();
    removals = removals.then(() => unlink(file));
  }, () => removals);

  const segment = openSync(path.join(base, 'journal.seg'), 'a');
  const segmentSync = new GroupSync(() => fdatasyncFd(segment));
  await measure('journal segment', async () => { writeSync(segment, body); await segmentSync.sync(); }, async () => undefined);
  closeSync(segment);
} finally {
  endBase();
}
