// The last record of a journal segment, damaged after it was written (bit rot, a bad copy) or torn by a crash while it
// was appended. A torn record is a prefix and its 250 was never sent: nothing is said. A damaged one is all there and
// was acknowledged: it is reported as lost, with a copy of the segment kept, never dropped in silence.
import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Journal } from '../../../core/queue/journal.ts';
import { HEADER_LENGTH } from '../../../core/queue/journal-record.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { body, entry } from './journal-entries.ts';
import { writeJournaled } from './restore-files.ts';
import { queueBed } from './bed.ts';

const key = createSecretKey(randomBytes(32));
const DAMAGED = 'journal segment damaged: the records after the damage are recovered, a copy of the segment is kept';

interface Line { level: string; msg: string; [k: string]: unknown }
const recordingLog = (lines: Line[]) => ({
  warn: (msg: string, f?: object) => { lines.push({ level: 'warn', msg, ...f }); },
  info: (msg: string, f?: object) => { lines.push({ level: 'info', msg, ...f }); },
  error: (msg: string, f?: object) => { lines.push({ level: 'error', msg, ...f }); },
});

describe('queue journal: the last record of a segment, damaged or torn', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-journal-tail-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Messages m000… appended one after another (so in this order), `done` marked delivered; the segment file. */
  async function closedSegment(count: number, done: string[] = []): Promise<string> {
    const j = new Journal(dir, key);
    await j.recover();
    for (let i = 0; i < count; i++) await j.append(entry(`m${String(i).padStart(3, '0')}`, body(i).length), body(i));
    for (const id of done) j.done(id);
    j.close();
    return path.join(dir, readdirSync(dir).find((name) => name.endsWith('.seg'))!);
  }
  const headerOf = (data: Buffer, i: number) => data.lastIndexOf('MMJ1 ', data.indexOf(`message ${i}`));

  /** Takes the folder over as a start does: the messages it gives back, what it set aside, and its log. */
  async function recover(): Promise<{ ids: string[]; aside: Array<{ id: string; reason: string; kind?: string }>; lines: Line[] }> {
    const lines: Line[] = [];
    const j = new Journal(dir, key, {}, recordingLog(lines));
    try {
      const ids = (await j.recover()).map((r) => r.entry.id);
      return { ids, aside: j.setAside.map((b) => ({ id: b.id, reason: b.reason, kind: b.setAside })), lines };
    } finally { j.close(); }
  }

  /** Damages the segment's bytes with `change` and writes them back; the damaged bytes. */
  function damage(seg: string, change: (data: Buffer) => void): Buffer {
    const data = readFileSync(seg);
    change(data);
    writeFileSync(seg, data);
    return data;
  }

  const copyOf = () => path.join(dir, 'corrupt', '0000000001-damaged.seg');

  it('a length digit of the last header damaged: the record is all there, so it is reported lost by its id and a copy kept', async () => {
    const seg = await closedSegment(3);
    const data = damage(seg, (d) => { d[headerOf(d, 2) + 7] = 'x'.charCodeAt(0); });
    const { ids, aside, lines } = await recover();
    assert.deepEqual(ids, ['m000', 'm001']);
    assert.deepEqual(aside.map((a) => [a.id, a.kind]), [['m002', 'damaged']]);
    assert.match(aside[0].reason, /its header does not read, though the record is all there: damaged after it was written, not torn by a crash/);
    const error = lines.find((l) => l.msg === DAMAGED);
    assert.equal(error?.level, 'error');
    assert.equal(error?.lost, 1);
    assert.deepEqual(error?.ids, ['m002']);
    assert.deepEqual(readFileSync(copyOf()), data);
  });

  it('its magic, both lengths and its HMAC damaged: the envelope\'s own length and size still show it whole', async () => {
    const seg = await closedSegment(2);
    damage(seg, (d) => {
      const h = headerOf(d, 1);
      for (const at of [0, 6, 18, 40, 41]) d[h + at] ^= 0x40;
    });
    const { ids, aside } = await recover();
    assert.deepEqual(ids, ['m000']);
    assert.deepEqual(aside.map((a) => a.id), ['m001']);
  });

  it('its envelope damaged so that no id reads: the body\'s CRC shows it whole, and it is named by where it starts', async () => {
    const seg = await closedSegment(2);
    let at = 0;
    damage(seg, (d) => {
      at = headerOf(d, 1);
      // The envelope's opening brace: it no longer parses, and its HMAC fails.
      d[at + HEADER_LENGTH] = '['.charCodeAt(0);
    });
    const { ids, aside, lines } = await recover();
    assert.deepEqual(ids, ['m000']);
    assert.deepEqual(aside.map((a) => a.id), [`0000000001.seg@${at}`]);
    assert.deepEqual(lines.find((l) => l.msg === DAMAGED)?.ids, [`0000000001.seg@${at}`]);
  });

  it('a damaged record followed by a torn one: the damaged one is reported, the torn one is not', async () => {
    const seg = await closedSegment(4);
    const whole = readFileSync(seg).length;
    truncateSync(seg, whole - 20);
    damage(seg, (d) => { d[headerOf(d, 2) + 20] = 'x'.charCodeAt(0); });
    const { ids, aside } = await recover();
    assert.deepEqual(ids, ['m000', 'm001']);
    assert.deepEqual(aside.map((a) => a.id), ['m002']);
  });

  it('a record torn anywhere (in its header, its envelope, its body, one byte short) is a crash before its 250: nothing is said', async () => {
    const seg = await closedSegment(3);
    const whole = readFileSync(seg);
    const h = headerOf(whole, 2);
    const envelopeEnd = whole.indexOf('}Subject: message 2') + 1;
    for (const keep of [h + 3, h + 60, h + HEADER_LENGTH + 10, envelopeEnd, envelopeEnd + 30, whole.length - 1]) {
      writeFileSync(seg, whole.subarray(0, keep));
      const { ids, aside, lines } = await recover();
      assert.deepEqual(ids, ['m000', 'm001'], `cut at ${keep}`);
      assert.deepEqual(aside, [], `cut at ${keep}`);
      assert.deepEqual(lines.filter((l) => l.level === 'error'), [], `cut at ${keep}`);
      assert.equal(existsSync(path.join(dir, 'corrupt')), false, `cut at ${keep}`);
    }
  });

  it('a torn record whose header was damaged too stays a torn record: nothing shows it was ever whole', async () => {
    const seg = await closedSegment(3);
    truncateSync(seg, readFileSync(seg).length - 30);
    damage(seg, (d) => { d[headerOf(d, 2) + 7] = 'x'.charCodeAt(0); });
    const { ids, aside } = await recover();
    assert.deepEqual(ids, ['m000', 'm001']);
    assert.deepEqual(aside, []);
  });

  it('the damaged last record was delivered already: it costs nothing and no copy is kept', async () => {
    const seg = await closedSegment(3, ['m002']);
    damage(seg, (d) => { d[headerOf(d, 2) + 7] = 'x'.charCodeAt(0); });
    const { ids, aside, lines } = await recover();
    assert.deepEqual(ids, ['m000', 'm001']);
    assert.deepEqual(aside, []);
    assert.deepEqual(lines.filter((l) => l.level === 'error'), []);
    assert.equal(existsSync(copyOf()), false);
  });
});

describe('queue journal: a start on a segment whose last header was damaged', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-journal-tail-start-');

  it('delivers the others, and reports the damaged one: an error line, the start\'s broken count, queue_broken, a copy', async () => {
    const ids = await writeJournaled(bed.dataDir, 3);
    const segment = path.join(bed.dataDir, 'journal', '0000000001.seg');
    const data = readFileSync(segment);
    data[data.lastIndexOf('MMJ1 ') + 12] = 'x'.charCodeAt(0);
    writeFileSync(segment, data);

    bed.gw = await startGateway({ dataDir: bed.dataDir, config: { smarthost: `smtp://127.0.0.1:${bed.sink.port}` } });
    const got = await bed.sink.waitFor(2);
    assert.deepEqual(got.map((m) => /Subject: (journaled \d)/.exec(m.raw.toString('latin1'))![1]).sort(), ['journaled 0', 'journaled 1']);
    const logs = bed.gw.logs;
    const error = logs.find((l) => l.msg === DAMAGED);
    assert.equal(error?.level, 'error');
    assert.deepEqual(error?.ids, [ids[2]]);
    assert.equal(logs.find((l) => l.msg === 'queue recovered')?.broken, 1);
    const metrics = await controlRequest(socketPath(bed.dataDir), { op: 'metrics' }) as Record<string, number>;
    assert.equal(metrics.queue_broken, 1);
    assert.deepEqual(readFileSync(path.join(bed.dataDir, 'corrupt', 'journal', '0000000001-damaged.seg')), data);
    await waitFor('the delivery queue idle', () => (bed.gw!.gateway.runtime.delivery.size === 0 ? true : undefined));
    assert.equal(bed.sink.messages.length, 2);
  });
});
