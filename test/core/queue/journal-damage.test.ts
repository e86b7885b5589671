// A journal segment damaged where two records meet, and message text that looks like records where recovery has to
// look for the next one: the loss is logged and a copy kept, and a header in message text costs what it is, not the
// megabytes it claims.
import assert from 'node:assert/strict';
import crypto, { createSecretKey, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { syncBuiltinESMExports } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal } from '../../../core/queue/journal.ts';
import { noFindings, SCANNING, segmentRecords, segmentScan } from '../../../core/queue/journal-record.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { body, entry } from './journal-entries.ts';

const key = createSecretKey(randomBytes(32));


interface Line { level: string; msg: string; [k: string]: unknown }
function recordingLog(lines: Line[]) {
  return {
    warn: (msg: string, f?: object) => { lines.push({ level: 'warn', msg, ...f }); },
    info: (msg: string, f?: object) => { lines.push({ level: 'info', msg, ...f }); },
    error: (msg: string, f?: object) => { lines.push({ level: 'error', msg, ...f }); },
  };
}

/**
 * A header in message text: shaped as a record's (lengths, CRC, HMAC, then an envelope-like `{…}`), claiming a body of
 * `bodyLen` bytes. Its HMAC is made with another key, so it verifies under none that matters.
 */
function fakeHeader(bodyLen: number): Buffer {
  const json = '{"id":"fake"}';
  const fields = `${String(json.length).padStart(10, '0')} ${String(bodyLen).padStart(10, '0')} 0badc0de`;
  return Buffer.from(`MMJ1 ${fields} ${'ab'.repeat(32)}\n${json}`);
}

/** Bytes the HMACs and CRCs computed while `work` ran covered: what the scan of a segment costs, counted exactly. */
async function bytesChecked(work: () => Promise<unknown> | unknown): Promise<number> {
  const crc32 = zlib.crc32, createHmac = crypto.createHmac;
  let bytes = 0;
  zlib.crc32 = (data: string | NodeJS.ArrayBufferView, value?: number) => { bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength; return crc32(data, value); };
  crypto.createHmac = ((algorithm: string, k: crypto.BinaryLike | crypto.KeyObject) => {
    const hmac = createHmac(algorithm, k);
    const update = hmac.update.bind(hmac);
    hmac.update = ((data: string | NodeJS.ArrayBufferView) => { bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength; return update(data as string); }) as typeof hmac.update;
    return hmac;
  }) as typeof crypto.createHmac;
  // The journal imports crc32 and createHmac by name: their live bindings follow the modules' objects only so.
  syncBuiltinESMExports();
  try { await work(); } finally {
    zlib.crc32 = crc32;
    crypto.createHmac = createHmac;
    syncBuiltinESMExports();
  }
  return bytes;
}

describe('queue journal: damage and message text that looks like records', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-journal-damage-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes messages to a new journal, marks `done` delivered, closes it; returns its one segment file. */
  async function closedSegment(bodies: Buffer[], done: string[] = []): Promise<string> {
    const j = new Journal(dir, key);
    await j.recover();
    await Promise.all(bodies.map((b, i) => j.append(entry(`m${String(i).padStart(3, '0')}`, b.length), b)));
    for (const id of done) j.done(id);
    j.close();
    return path.join(dir, readdirSync(dir).find((name) => name.endsWith('.seg'))!);
  }
  const headerOf = (data: Buffer, i: number) => data.lastIndexOf('MMJ1 ', data.indexOf(`message ${i}`));

  it('one corruption across the end of a delivered record and the header of the next: that next record is reported lost and a copy kept', async () => {
    const seg = await closedSegment([0, 1, 2, 3, 4].map(body), ['m001']);
    const data = readFileSync(seg);
    const h2 = headerOf(data, 2), h3 = headerOf(data, 3);
    // The last byte of m001's body and a length digit of m002's header.
    data[h2 - 1] ^= 0x01;
    data[h2 + 7] = 'x'.charCodeAt(0);
    writeFileSync(seg, data);

    const lines: Line[] = [];
    const j = new Journal(dir, key, {}, recordingLog(lines));
    const got = await j.recover();
    assert.deepEqual(got.map((r) => r.entry.id), ['m000', 'm003', 'm004']);
    const copy = path.join(dir, 'corrupt', '0000000001-damaged.seg');
    assert.deepEqual(j.setAside.map((b) => [b.id, b.setAside, b.path]), [[`0000000001.seg@${h2}`, 'damaged', copy]]);
    assert.match(j.setAside[0].reason, new RegExp(`\\(${h3 - h2} bytes unreadable between ${h2} and ${h3}\\)`));
    const error = lines.find((l) => l.level === 'error');
    assert.equal(error?.msg, 'journal segment damaged: the records after the damage are recovered, a copy of the segment is kept');
    assert.equal(error?.lost, 1);
    assert.deepEqual(error?.ids, [`0000000001.seg@${h2}`]);
    assert.deepEqual(readFileSync(copy), data);
    j.close();
  });

  it('the same corruption with neither record delivered: the one whose envelope reads by its id, the other by where it was', async () => {
    const seg = await closedSegment([0, 1, 2, 3].map(body));
    const data = readFileSync(seg);
    const h2 = headerOf(data, 2), h3 = headerOf(data, 3);
    data[h2 - 1] ^= 0x01;
    data[h2 + 7] = 'x'.charCodeAt(0);
    writeFileSync(seg, data);
    const j = new Journal(dir, key, {}, recordingLog([]));
    assert.deepEqual((await j.recover()).map((r) => r.entry.id), ['m000', 'm003']);
    assert.deepEqual(j.setAside.map((b) => b.id), ['m001', `0000000001.seg@${h2}`]);
    assert.match(j.setAside[1].reason, new RegExp(`${h3 - h2} bytes unreadable between ${h2} and ${h3}`));
    j.close();
  });

  it('damage to a delivered record alone costs nothing and keeps no copy', async () => {
    const seg = await closedSegment([0, 1, 2].map(body), ['m001']);
    const data = readFileSync(seg);
    data[data.indexOf('message 1')] ^= 0x01;
    writeFileSync(seg, data);
    const lines: Line[] = [];
    const j = new Journal(dir, key, {}, recordingLog(lines));
    assert.deepEqual((await j.recover()).map((r) => r.entry.id), ['m000', 'm002']);
    assert.deepEqual(j.setAside, []);
    assert.deepEqual(lines.filter((l) => l.level === 'error'), []);
    assert.equal(existsSync(path.join(dir, 'corrupt')), false);
    j.close();
  });

  it('a header in message text costs its own length to reject, not the body it claims, past damage and in a torn tail', async () => {
    // A message made of headers that each claim 2 MB of body: what lies after it in the segment, 4 MB of other mail.
    const fakes = Buffer.concat(Array.from({ length: 200 }, () => fakeHeader(2 * 1024 * 1024)));
    const hostile = Buffer.concat([Buffer.from('Subject: message 1\r\n\r\n'), fakes]);
    const others = Array.from({ length: 32 }, (_, i) => Buffer.concat([Buffer.from(`Subject: message ${i + 2}\r\n\r\n`), randomBytes(128 * 1024)]));
    const seg = await closedSegment([body(0), hostile, ...others]);
    const data = readFileSync(seg);
    // The hostile message's own header damaged: recovery looks through its text for the next record.
    data[headerOf(data, 1) + 7] = 'x'.charCodeAt(0);
    const findings = noFindings();
    let ids: string[] = [];
    const pastDamage = await bytesChecked(() => { ids = [...segmentRecords(data, seg, key, findings)].map((r) => r.entry.id); });
    assert.equal(ids.length, 33, 'every record but the damaged one');
    assert.equal(findings.damaged.length, 1);
    // Each record's HMAC and CRC, once: the 200 headers in the text add their own few dozen bytes each.
    assert.ok(pastDamage < data.length + 200 * 100, `${pastDamage} bytes checked for a segment of ${data.length}`);

    // The hostile message last and torn (a crash while it was appended), its headers claiming what is left of it.
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-journal-damage-'));
    const tail = Buffer.concat([Buffer.from('Subject: message 1\r\n\r\n'), ...Array.from({ length: 400 }, () => fakeHeader(20_000 + 3)), randomBytes(40_000)]);
    const torn = await closedSegment([body(0), tail]);
    truncateSync(torn, readFileSync(torn).length - 7);
    const tornData = readFileSync(torn);
    const tornFindings = noFindings();
    const inTail = await bytesChecked(() => { ids = [...segmentRecords(tornData, torn, key, tornFindings)].map((r) => r.entry.id); });
    assert.deepEqual(ids, ['m000']);
    assert.ok(tornFindings.tornTail > 0);
    assert.ok(inTail < tornData.length + 400 * 100, `${inTail} bytes checked for a segment of ${tornData.length}`);
  });

  it('a search through damage hands the reader a point to let the event loop run at each header it rejects', async () => {
    const text = Buffer.concat(Array.from({ length: 50 }, () => fakeHeader(10)));
    const seg = await closedSegment([body(0), Buffer.concat([Buffer.from('Subject: message 1\r\n\r\n'), text]), body(2)]);
    const data = readFileSync(seg);
    data[headerOf(data, 1) + 7] = 'x'.charCodeAt(0);
    const items = [...segmentScan(data, seg, key, noFindings())];
    assert.deepEqual(items.filter((x) => x !== SCANNING).map((r) => (r as { entry: QueueEntry }).entry.id), ['m000', 'm002']);
    assert.ok(items.filter((x) => x === SCANNING).length >= 51, 'the damaged header and each header in the text');
  });
});
