// Queue files damaged on their way through a backup: a message file cut short (a copy taken while it was written) is
// never delivered cut, at a start or at a later attempt, but set aside with its state; a journal segment with one
// damaged record in its middle gives up only that record, and a copy of it is kept.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { addJournaled, addSpooled, writeJournaled, writeQueue } from './restore-files.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { queueBed } from './bed.ts';
import { moatQueue } from './moat-queue.ts';

/** A large message spooled and sealed, whose state then changed (a deferral): its .eml and its .json. */
const deferredLarge = (dataDir: string, nextAttemptAt: number) =>
  writeQueue(dataDir, (store) => addSpooled(store, 'large', 410_600, { attempts: 1, nextAttemptAt, lastReply: '451 try later' }));

const SET_ASIDE = 'queued message set aside in data_dir/corrupt: not delivered until mended';

describe('queue: files damaged in a backup', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-restore-damage-');
  const start = (): Promise<TestGateway> => startGateway({ dataDir: bed.dataDir, config: { smarthost: `smtp://127.0.0.1:${bed.sink.port}` } });

  it('a message file cut short is shown so, and a start sets it aside with its state instead of delivering it', async () => {
    const e = await deferredLarge(bed.dataDir, 0);
    await writeQueue(bed.dataDir, (store) => addJournaled(store, 'whole'));
    const eml = path.join(bed.dataDir, 'queue', `${e.id}.eml`);
    truncateSync(eml, 200_000);
    const shown = await moatQueue(bed.dataDir, 'show', e.id);
    assert.match(shown.stdout, new RegExp(`^damaged: +its message file is 200000 bytes, its state says ${e.size}: cut short`, 'm'));

    bed.gw = await start();
    const logs = bed.gw.logs;
    assert.equal(logs.find((l) => l.msg === 'queue recovered')?.broken, 1);
    const line = logs.find((l) => l.msg === SET_ASIDE);
    assert.equal(line?.level, 'error');
    assert.equal(line?.qid, e.id);
    assert.match(String(line?.reason), new RegExp(`its message file is 200000 bytes, its state says ${e.size}: cut short`));
    const aside = path.join(bed.dataDir, 'corrupt', 'queue');
    assert.deepEqual(readdirSync(aside).sort(), [`${e.id}.eml`, `${e.id}.json`]);
    assert.equal(statSync(path.join(aside, `${e.id}.eml`)).size, 200_000);
    assert.equal(existsSync(eml), false);
    // The message beside it goes; the cut one never does.
    const [sent] = await bed.sink.waitFor(1);
    assert.match(sent.raw.toString('latin1'), /Subject: whole\r\n/);
    await waitFor('the delivery queue idle', () => (bed.gw!.gateway.runtime.delivery.size === 0 ? true : undefined));
    assert.equal(bed.sink.messages.length, 1);
  });

  it('a message file cut short while queued is set aside at its next attempt, not sent', async () => {
    const e = await deferredLarge(bed.dataDir, Date.now() + 3_600_000);
    bed.gw = await start();
    assert.equal(bed.gw.logs.find((l) => l.msg === 'queue recovered')?.broken, 0);
    truncateSync(path.join(bed.dataDir, 'queue', `${e.id}.eml`), 200_000);
    const flushed = await moatQueue(bed.dataDir, 'flush', e.id);
    assert.equal(flushed.code, 0, flushed.stderr);
    const line = await waitFor('the set-aside line', () => bed.gw!.logs.find((l) => l.msg === SET_ASIDE));
    assert.equal(line.qid, e.id);
    assert.deepEqual(readdirSync(path.join(bed.dataDir, 'corrupt', 'queue')).sort(), [`${e.id}.eml`, `${e.id}.json`]);
    assert.equal(bed.sink.messages.length, 0);
    assert.equal(bed.gw.gateway.runtime.delivery.size, 0, 'no longer scheduled');
  });

  it('a byte flipped in a journal record ten from the end loses that record only, with an error, and a copy of the segment is kept', async () => {
    const ids = await writeJournaled(bed.dataDir, 12);
    const segment = path.join(bed.dataDir, 'journal', '0000000001.seg');
    const data = readFileSync(segment);
    data[data.indexOf('Subject: journaled 2') + 9] ^= 0x20;
    writeFileSync(segment, data);

    bed.gw = await start();
    const got = await bed.sink.waitFor(11, 20_000);
    assert.deepEqual(got.map((m) => Number(/Subject: journaled (\d+)/.exec(m.raw.toString('latin1'))![1])).sort((a, b) => a - b), [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    const logs = bed.gw.logs;
    const error = logs.find((l) => l.msg === 'journal segment damaged: the records after the damage are recovered, a copy of the segment is kept');
    assert.equal(error?.level, 'error');
    assert.equal(error?.recovered_after_damage, 9);
    assert.equal(error?.lost, 1);
    assert.deepEqual(error?.ids, [ids[2]]);
    assert.equal(logs.find((l) => l.msg === 'queue recovered')?.broken, 1);
    const copy = path.join(bed.dataDir, 'corrupt', 'journal', '0000000001-damaged.seg');
    assert.deepEqual(readFileSync(copy), data);
    // The delivered segment goes as any emptied one; the copy stays for the admin.
    await waitFor('the emptied segment deleted', () => (existsSync(segment) ? undefined : true));
    assert.ok(existsSync(copy));
  });
});
