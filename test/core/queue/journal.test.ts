// The queue journal on a real file system: recovery after a restart, torn and forged records, segment reuse, moves to files.
import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal, readJournal, readJournalInSlices, readLocation } from '../../../core/queue/journal.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { body, entry } from './journal-entries.ts';
import net from 'node:net';
import { startGateway, startRelayingGateway } from '../../helpers/gateway.ts';
import { sendMail, until } from './send.ts';
import { longestStall } from '../../helpers/event-loop-stall.ts';

const key = createSecretKey(randomBytes(32));


describe('queue journal', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-journal-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `n` messages to a new journal, closes it, and returns its one segment file. */
  async function closedSegment(n: number): Promise<string> {
    const j = new Journal(dir, key);
    await j.recover();
    await fill(j, n);
    j.close();
    return path.join(dir, readdirSync(dir).find((name) => name.endsWith('.seg'))!);
  }

  async function fill(j: Journal, n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, (_, i) => j.append(entry(`m${String(i).padStart(3, '0')}`, body(i).length), body(i))));
  }

  it('fails a take-over whose done marks cannot be read, rather than bring every delivered message of the segment back', async () => {
    const seg = await closedSegment(5);
    const done = seg.replace(/\.seg$/, '.done');
    rmSync(done, { force: true });
    // A folder where the marks should be: a read error that is not "no marks yet" (root reads any file, not a folder).
    mkdirSync(done);
    await assert.rejects(new Journal(dir, key).recover(), /EISDIR/);
    // A reader beside the owner gets the error too, rather than a list that the marks would have shortened.
    await assert.rejects(readJournalInSlices(dir, key), /EISDIR/);
    rmSync(done, { recursive: true });
    assert.equal((await new Journal(dir, key).recover()).length, 5, 'with the marks gone (never written), all five are live');
  });

  it('a reader does not take a segment it could not read for one without messages', async () => {
    const seg = await closedSegment(3);
    rmSync(seg);
    mkdirSync(seg);
    await assert.rejects(readJournalInSlices(dir, key), /EISDIR/);
    assert.deepEqual(await readJournalInSlices(path.join(dir, 'no-such-folder'), key), [], 'no journal folder: no messages');
  });

  it('gives back after a restart every message not done, with its exact bytes', async () => {
    const j = new Journal(dir, key);
    await j.recover();
    await fill(j, 20);
    j.done('m003');
    j.done('m010');
    j.close();

    const again = new Journal(dir, key);
    const got = await again.recover();
    assert.equal(got.length, 18);
    assert.ok(!got.some((r) => r.entry.id === 'm003' || r.entry.id === 'm010'));
    for (const r of got) {
      const i = Number(r.entry.id.slice(1));
      assert.deepEqual(await readLocation(r.location), body(i));
    }
    // A reader beside the owner (moat queue) sees the same.
    assert.deepEqual(readJournal(dir, key).map((r) => r.entry.id), got.map((r) => r.entry.id));
    assert.deepEqual((await readJournalInSlices(dir, key)).map((r) => r.entry.id), got.map((r) => r.entry.id));
    again.close();
  });

  it('stops at a torn record and never reads past it', async () => {
    const seg = await closedSegment(5);
    truncateSync(seg, statSync(seg).size - 7);
    const j = new Journal(dir, key);
    const got = await j.recover();
    assert.deepEqual(got.map((r) => r.entry.id), ['m000', 'm001', 'm002', 'm003']);
    assert.deepEqual(j.setAside, [], 'a torn last record is a crash while it was appended: nothing to report');
    assert.ok(!existsSync(path.join(dir, 'corrupt')));
  });

  it('never takes content that merely looks like a record for one', async () => {
    const j = new Journal(dir, key);
    await j.recover();
    const fake = Buffer.from(`MMJ1 0000000010 0000000004 00000000 ${'0'.repeat(64)}\n{"id":"x"}abcd`);
    await j.append(entry('looks', fake.length), fake);
    j.close();
    const again = new Journal(dir, key);
    assert.deepEqual((await again.recover()).map((r) => r.entry.id), ['looks']);
    assert.deepEqual(again.setAside, []);
    again.close();
  });

  it('reads on past damaged records in the middle of a segment, names what they held, and keeps a copy of the segment', async () => {
    const seg = await closedSegment(12);
    const original = readFileSync(seg);
    const data = Buffer.from(original);
    // One byte of a body (its CRC fails), and one of a later record's header (no record can be read there).
    data[data.indexOf('message 2')] = 'M'.charCodeAt(0);
    const header5 = data.lastIndexOf('MMJ1 ', data.indexOf('message 5'));
    data[header5 + 7] = 'x'.charCodeAt(0);
    writeFileSync(seg, data);
    const lines: Array<{ level: string; msg: string; [k: string]: unknown }> = [];
    const log = {
      warn: (msg: string, f?: object) => { lines.push({ level: 'warn', msg, ...f }); },
      info: (msg: string, f?: object) => { lines.push({ level: 'info', msg, ...f }); },
      error: (msg: string, f?: object) => { lines.push({ level: 'error', msg, ...f }); },
    };
    const j = new Journal(dir, key, {}, log);
    const got = await j.recover();
    assert.deepEqual(got.map((r) => r.entry.id), ['m000', 'm001', 'm003', 'm004', 'm006', 'm007', 'm008', 'm009', 'm010', 'm011']);
    for (const r of got) assert.deepEqual(await readLocation(r.location), body(Number(r.entry.id.slice(1))));
    const copy = path.join(dir, 'corrupt', '0000000001-damaged.seg');
    assert.deepEqual(j.setAside.map((b) => [b.id, b.setAside, b.path]), [['m002', 'damaged', copy], [`0000000001.seg@${header5}`, 'damaged', copy]]);
    assert.deepEqual(readFileSync(copy), data, 'the copy is the segment as it was found');
    const error = lines.find((l) => l.level === 'error');
    assert.equal(error?.msg, 'journal segment damaged: the records after the damage are recovered, a copy of the segment is kept');
    assert.equal(error?.recovered_after_damage, 8, 'm003, m004 and m006 to m011');
    assert.equal(error?.lost, 2);
    // Every message delivered: the segment goes, as any emptied one; the copy stays.
    for (const r of got) j.done(r.entry.id);
    j.close();
    await until(() => !existsSync(seg), 2000, 'the emptied segment deleted');
    assert.ok(existsSync(copy));
  });

  it('sets a segment sealed under another key aside whole, naming its messages, rather than delete it', async () => {
    const seg = await closedSegment(3);
    const original = readFileSync(seg);
    const j = new Journal(dir, createSecretKey(randomBytes(32)));
    assert.equal((await j.recover()).length, 0);
    j.close();
    assert.ok(!existsSync(seg));
    const aside = path.join(dir, 'corrupt', path.basename(seg));
    assert.deepEqual(readFileSync(aside), original);
    assert.deepEqual(j.setAside.map((b) => [b.id, b.setAside, b.path]), [['m000', 'wrong-key', aside], ['m001', 'wrong-key', aside], ['m002', 'wrong-key', aside]]);
    assert.match(j.setAside[0].reason, /queue\.key does not match the one these files were sealed with: was it restored\?/);
  });

  it('moves to a new segment when one is full and deletes a segment once all its messages are done', async () => {
    const j = new Journal(dir, key, { segmentBytes: 1000, recycleBytes: 500 });
    await j.recover();
    await fill(j, 12);
    const segments = () => readdirSync(dir).filter((n) => n.endsWith('.seg'));
    assert.ok(segments().length >= 3, `several segments: ${segments()}`);
    for (let i = 0; i < 12; i++) j.done(`m${String(i).padStart(3, '0')}`);
    await new Promise((r) => setTimeout(r, 100)); // deletions are asynchronous
    assert.deepEqual(segments(), [], 'every segment emptied and deleted');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.done')), []);
    j.close();
  });

  it('refuses appends before it has taken the folder over (a second owner would corrupt it)', async () => {
    const j = new Journal(dir, key);
    await assert.rejects(j.append(entry('m1', 3), Buffer.from('a\r\n')), /before recovery/);
  });
  it('refuses appends while it takes the folder over; a second take-over waits for the first, and new records go to a new segment', async () => {
    await closedSegment(50);
    const j = new Journal(dir, key);
    const first = j.recover();
    const second = j.recover();
    assert.ok(!j.owned, 'not owned before the take-over is over');
    await assert.rejects(j.append(entry('late', 3), Buffer.from('a\r\n')), /before recovery/);
    assert.equal((await first).length, 50);
    assert.deepEqual(await second, [], 'the second call returns nothing: the first one took every message');
    assert.ok(j.owned);
    await j.append(entry('next', 3), Buffer.from('a\r\n'));
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.seg')).sort(), ['0000000001.seg', '0000000002.seg']);
    j.close();
    assert.deepEqual((await new Journal(dir, key).recover()).map((r) => r.entry.id).at(-1), 'next');
  });

  it('gives the first copy of an id and drops a segment whose messages are all done, after a restart', async () => {
    const j = new Journal(dir, key, { segmentBytes: 400 });
    await j.recover();
    // Two copies of one id in two segments (as a resend after a lost reply could leave): the older one is taken.
    await j.append(entry('dup', 5), Buffer.from('old\r\n'));
    await j.append(entry('gone', 5), Buffer.from('bye\r\n'));
    await j.append(entry('dup', 5), Buffer.from('new\r\n'));
    j.done('gone');
    j.close();
    const segs = () => readdirSync(dir).filter((n) => n.endsWith('.seg'));
    assert.ok(segs().length >= 2, `${segs()}`);
    const again = new Journal(dir, key);
    const got = await again.recover();
    assert.deepEqual(got.map((r) => r.entry.id), ['dup']);
    assert.deepEqual(await readLocation(got[0].location), Buffer.from('old\r\n'));
    await until(() => segs().length === 1, 2000, 'the segments without live messages deleted');
    again.close();
  });
});

describe('taking a big journal over', function () {
  this.timeout(60_000);
  const N = 30_000;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-journal-big-'));
    const store = new QueueStore(dir);
    await store.takeOverJournal();
    // A thousand appends share each fdatasync: built in a few seconds.
    for (let b = 0; b < N; b += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, i) => {
        const id = `0${String(b + i).padStart(8, '0')}00feed`;
        const msg = Buffer.from(`Subject: waiting ${b + i}\r\n\r\n${'x'.repeat(1500)}\r\n`);
        return store.commitJournaled(entry(id, msg.length), msg);
      }));
    }
    store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`recovers ${N} journaled messages while the event loop keeps running (a liveness probe is answered)`, async () => {
    const store = new QueueStore(dir);
    let took = 0;
    let recovered = 0;
    const stall = await longestStall(async () => {
      const t = performance.now();
      recovered = (await store.recover()).entries.length;
      took = performance.now() - t;
    }, 5);
    store.close();
    assert.equal(recovered, N);
    // Read in one synchronous stretch, the longest gap between ticks was the whole recovery (0.37 s here). Read in
    // slices, it is the slice plus what a loaded machine adds (GC, other processes): a small part of the whole.
    assert.ok(stall < took / 2, `the event loop stalled ${stall.toFixed(0)} ms of the recovery's ${took.toFixed(0)} ms`);
    assert.ok(stall < 400, `the event loop stalled ${stall.toFixed(0)} ms`);
  });
});

describe('queue store with the journal', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-store-journal-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('moves a message out to its own files when its state changes, and recovers it exactly once', async () => {
    const store = new QueueStore(dir);
    await store.recover();
    const e = entry('0aaa', body(1).length);
    await store.commitJournaled(e, body(1));
    assert.ok(store.isJournaled('0aaa'));
    assert.equal(store.messageSource('0aaa').file.endsWith('.seg'), true);
    e.attempts = 1;
    e.lastReply = '451 try later';
    await store.update(e);
    assert.ok(!store.isJournaled('0aaa'));
    assert.deepEqual(readFileSync(store.emlPath('0aaa')), body(1));
    assert.equal(JSON.parse(readFileSync(store.jsonPath('0aaa'), 'utf8')).lastReply, '451 try later');
    store.close();

    const next = new QueueStore(dir);
    const { entries } = await next.recover();
    assert.deepEqual(entries.map((x) => [x.id, x.attempts]), [['0aaa', 1]]);
    next.close();
  });

  it('after a crash between a move to files and its mark in the journal, keeps the files and forgets the record', async () => {
    const store = new QueueStore(dir);
    await store.recover();
    const e = entry('0ccc', body(3).length);
    await store.commitJournaled(e, body(3));
    store.close();
    // The files a move writes, without the journal's mark (the process died in between).
    writeFileSync(store.emlPath('0ccc'), body(3));
    writeFileSync(store.jsonPath('0ccc'), JSON.stringify({ ...e, attempts: 2 }));
    const next = new QueueStore(dir);
    const { entries } = await next.recover();
    assert.deepEqual(entries.map((x) => [x.id, x.attempts]), [['0ccc', 2]]);
    assert.ok(!next.isJournaled('0ccc'));
    await next.remove('0ccc');
    assert.ok(!existsSync(next.emlPath('0ccc')) && !existsSync(next.jsonPath('0ccc')), 'its removal takes the files');
    next.close();
  });

  it('lists journaled messages to another process and removes a delivered one without a file', async () => {
    const store = new QueueStore(dir);
    await store.recover();
    await store.commitJournaled(entry('0bbb', body(2).length), body(2));
    const viewer = new QueueStore(dir);
    assert.deepEqual((await viewer.list()).map((x) => x.id), ['0bbb']);
    assert.equal((await viewer.load('0bbb'))?.mailFrom, 'a@client.example');
    const head = await viewer.readHead('0bbb', 'queue', 1024);
    assert.match(head.toString(), /^Subject: message 2/);
    await store.remove('0bbb');
    assert.deepEqual(await viewer.list(), []);
    assert.ok(!existsSync(store.emlPath('0bbb')));
    store.close();
  });
});

describe('queue journal in the gateway', function () {
  this.timeout(30_000);
  let stall: net.Server;
  let stallPort: number;
  const sockets = new Set<net.Socket>();
  before(async () => {
    // A smarthost that accepts the connection and never greets: deliveries stay in flight while the test looks.
    stall = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', () => r()));
    stallPort = (stall.address() as net.AddressInfo).port;
  });
  after(() => { for (const s of sockets) s.destroy(); stall.close(); });

  const stalled = (extra: Record<string, unknown> = {}) => ({ smarthost: { url: `smtp://127.0.0.1:${stallPort}`, timeout: '2s' }, ...extra });

  it('keeps a small message in the journal and a large one in its own file; after a failed attempt both are files, and a restart delivers them byte-identical', async () => {
    // The test's own data dir: the second gateway starts on what the first one left.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-journal-gw-'));
    try {
      const gw = await startGateway({ dataDir, config: stalled() });
      try {
        const small = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'small' });
        const large = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'large', body: ('y'.repeat(998) + '\r\n').repeat(200) });
        assert.equal(small.code, 250);
        assert.equal(large.code, 250);
        const q = gw.gateway.runtime.queue;
        assert.ok(q.isJournaled(small.queueId!), 'the small message is in the journal');
        assert.equal(q.journaledCount, 1, 'what moat metrics reports as queue_journaled');
        assert.ok(!existsSync(q.emlPath(small.queueId!)), 'and has no file of its own');
        assert.ok(!q.isJournaled(large.queueId!));
        assert.ok(existsSync(q.emlPath(large.queueId!)), 'the large message has its own file');
        // moat queue, in another process, sees both while the gateway runs.
        assert.deepEqual((await new QueueStore(gw.dataDir).list()).map((e) => e.id).sort(), [small.queueId, large.queueId].sort());

        await until(() => !q.isJournaled(small.queueId!), 10_000, 'the failed attempt to move the message to files');
        assert.ok(existsSync(q.emlPath(small.queueId!)) && existsSync(q.jsonPath(small.queueId!)));
      } finally { await gw.stop(); }

      const again = await startRelayingGateway({ dataDir });
      try {
        const got = await again.sink.waitFor(2, 10_000);
        const subjects = got.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())![1]).sort();
        assert.deepEqual(subjects, ['large', 'small']);
        const big = got.find((m) => m.raw.includes('Subject: large'))!;
        assert.ok(big.raw.toString().includes(('y'.repeat(998) + '\r\n').repeat(200)), 'the large body arrived unchanged');
        await until(async () => (await again.gateway.runtime.queue.list()).length === 0, 5000, 'an empty queue');
      } finally { await again.stop(); }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('gives every message its own file with queue.journal off', async () => {
    const gw = await startGateway({ config: stalled({ queue: { journal: false } }) });
    try {
      const s = await sendMail(gw.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'no journal' });
      assert.equal(s.code, 250);
      assert.ok(!gw.gateway.runtime.queue.isJournaled(s.queueId!));
      assert.ok(existsSync(gw.gateway.runtime.queue.emlPath(s.queueId!)));
    } finally { await gw.stop(); }
  });
});
