// The journal's done marks on a real full file system (a small tmpfs): a mark with no reserved space (a segment of an
// older version, taken over while the disk is full) is kept in memory, retried, and warned about with the count at
// stake; an emptied segment is deleted instead, which needs no space.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSecretKey, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal, readJournal, type JournalLog } from '../../../core/queue/journal.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { until } from './send.ts';

const key = createSecretKey(randomBytes(32));
const ids = Array.from({ length: 10 }, (_, i) => `m${i}`);

function entry(id: string): QueueEntry {
  return {
    id, mailFrom: 'a@client.example', recipients: [{ address: 'u@example.com', status: 'pending' }], prepend: '', remove: [],
    receivedAt: Date.now(), size: 40, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

/** Records what the journal logs. */
function recordingLog(): JournalLog & { lines: Array<{ level: string; msg: string } & LogFields> } {
  const lines: Array<{ level: string; msg: string } & LogFields> = [];
  return {
    lines,
    warn: (msg, fields) => { lines.push({ level: 'warn', msg, ...fields }); },
    info: (msg, fields) => { lines.push({ level: 'info', msg, ...fields }); },
  };
}

describe('queue journal: done marks on a full disk', function () {
  this.timeout(20_000);
  let mnt = '';
  let mounted = false;
  let dir: string;
  const open: Journal[] = [];

  before(function () {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root');
    mnt = mkdtempSync(path.join(os.tmpdir(), 'mm-marks-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt]);
    mounted = true;
  });
  beforeEach(() => { dir = path.join(mnt, 'journal'); mkdirSync(dir); });
  afterEach(() => {
    for (const j of open.splice(0)) j.close();
    for (const name of readdirSync(mnt)) rmSync(path.join(mnt, name), { recursive: true, force: true });
  });
  after(() => {
    // A mount that failed leaves an empty dir, still removed.
    if (mounted) execFileSync('umount', ['-l', mnt]);
    if (mnt) rmdirSync(mnt);
  });

  function journal(log = recordingLog()): Journal {
    const j = new Journal(dir, key, {}, log);
    open.push(j);
    return j;
  }

  /** Ten messages in a segment whose `.done` was never written, as an older version left it. */
  async function oldSegment(): Promise<void> {
    const j = new Journal(dir, key);
    await j.recover();
    for (const id of ids) await j.append(entry(id), Buffer.from(`Subject: ${id}\r\n\r\nbody\r\n`));
    j.close();
    for (const name of readdirSync(dir)) if (name.endsWith('.done')) rmSync(path.join(dir, name));
  }

  const fillDisk = () => {
    const fd = openSync(path.join(mnt, 'filler'), 'w');
    try { for (;;) writeSync(fd, Buffer.alloc(4096)); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    } finally { closeSync(fd); }
  };
  const freeDisk = () => rmSync(path.join(mnt, 'filler'));

  it('a new segment reserves its marks: done() on a full disk writes them, and a restart brings none back', async () => {
    const log = recordingLog();
    const j = journal(log);
    await j.recover();
    for (const id of ids) await j.append(entry(id), Buffer.from(`Subject: ${id}\r\n\r\nbody\r\n`));
    fillDisk();
    for (const id of ids.slice(0, 6)) j.done(id);
    assert.equal(j.unwrittenMarks, 0);
    const done = readdirSync(dir).find((n) => n.endsWith('.done'))!;
    assert.match(readFileSync(path.join(dir, done), 'latin1'), /^m0\nm1\nm2\nm3\nm4\nm5\n\0+$/, 'marks written over the reserved zeros');
    assert.deepEqual(readJournal(dir, key).map((r) => r.entry.id), ids.slice(6), 'a reader skips the reserved zeros');
    j.close();
    freeDisk();
    assert.deepEqual((await journal().recover()).map((r) => r.entry.id), ids.slice(6));
    assert.deepEqual(log.lines.filter((l) => l.level === 'warn'), []);
  });

  it('marks that find no room are kept, warned about with their count, and written once space returns', async () => {
    await oldSegment();
    fillDisk();
    const log = recordingLog();
    const j = journal(log);
    assert.equal((await j.recover()).length, 10);
    for (const id of ids.slice(0, 5)) j.done(id);
    assert.equal(j.unwrittenMarks, 5);
    const warned = log.lines.filter((l) => l.level === 'warn');
    assert.equal(warned.length, 1, 'one warning, not one per message');
    assert.match(warned[0].msg, /cannot record delivered messages as done.*a crash before they are written delivers them again/);
    assert.equal(warned[0].code, 'ENOSPC');
    assert.equal(warned[0].count, 1);

    freeDisk();
    await until(() => j.unwrittenMarks === 0, 5000, 'the retry writes the kept marks');
    assert.ok(log.lines.some((l) => l.level === 'info' && /written now/.test(l.msg) && l.count === 5));
    j.close();
    assert.deepEqual((await journal().recover()).map((r) => r.entry.id), ids.slice(5));
  });

  it('a stop with marks still unwritten warns with their count and ids (the next start delivers them again)', async () => {
    await oldSegment();
    fillDisk();
    const log = recordingLog();
    const j = journal(log);
    await j.recover();
    for (const id of ids.slice(0, 3)) j.done(id);
    j.close();
    const atStop = log.lines.filter((l) => l.level === 'warn' && /at stop/.test(l.msg));
    assert.equal(atStop.length, 1);
    assert.equal(atStop[0].count, 3);
    assert.deepEqual(atStop[0].ids, ids.slice(0, 3));
    freeDisk();
    assert.equal((await journal().recover()).length, 10, 'as warned: the three come back');
  });

  it('a segment whose messages are all done is deleted, which settles its unwritten marks without any space', async () => {
    await oldSegment();
    fillDisk();
    const log = recordingLog();
    const j = journal(log);
    await j.recover();
    for (const id of ids) j.done(id);
    await until(() => j.unwrittenMarks === 0, 2000, 'the unlink settles the marks');
    await until(() => !readdirSync(dir).some((n) => n.endsWith('.seg')), 2000, 'the segment is deleted');
    j.close();
    assert.deepEqual(log.lines.filter((l) => l.level === 'warn' && /at stop/.test(l.msg)), []);
    freeDisk();
    assert.deepEqual(await journal().recover(), []);
  });

  it('a mark after a torn last line (a power cut) starts a line of its own, so both ids stay readable', async () => {
    await oldSegment();
    const done = path.join(dir, readdirSync(dir).find((n) => n.endsWith('.seg'))!.replace(/\.seg$/, '.done'));
    writeFileSync(done, 'm0\nm1\nm');
    const j = journal();
    assert.equal((await j.recover()).length, 8);
    j.done('m2');
    j.close();
    assert.deepEqual((await journal().recover()).map((r) => r.entry.id), ids.slice(3));
  });

  it('a clean stop deletes the active segment once its messages are all done, so their marks are not needed', async () => {
    const j = journal();
    await j.recover();
    for (const id of ids) await j.append(entry(id), Buffer.from(`Subject: ${id}\r\n\r\nbody\r\n`));
    for (const id of ids) j.done(id);
    assert.equal(readdirSync(dir).filter((n) => n.endsWith('.seg')).length, 1, 'the active segment stays while the journal runs');
    j.close();
    assert.deepEqual(readdirSync(dir), []);
  });
});
