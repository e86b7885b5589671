// A queue restored on a new host without its queue.key (only journal/ and queue/ copied, or files merged from
// another gateway): nothing sealed under another key is deleted. With a key of its own the start sets such files aside
// in data_dir/corrupt, says why (error lines, the start's summary, queue_broken, moat queue list, moat doctor), and a
// later start with the right key puts them back and delivers them; with no key at all, the start refuses to run and
// moat queue list says the key is missing, neither creating one.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addJournaled, addSpooled, writeQueue } from './restore-files.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { capture } from '../../helpers/console-capture.ts';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';
import { queueBed } from './bed.ts';
import { moatQueue } from './moat-queue.ts';

const WRONG_KEY = /queue\.key does not match the one these files were sealed with: was it restored\?/;

/** The old host's queue: three journaled messages and one spooled (sealed) one. */
function oldHostQueue(dir: string): Promise<{ journaled: string[]; spooled: string }> {
  return writeQueue(dir, async (store) => ({
    journaled: [await addJournaled(store, 'journaled 0'), await addJournaled(store, 'journaled 1'), await addJournaled(store, 'journaled 2')],
    spooled: (await addSpooled(store, 'spooled', 200_000)).id,
  }));
}

/** What a restore of journal/ and queue/ alone copies. */
function copyQueueFiles(from: string, to: string): void {
  for (const folder of ['journal', 'queue']) {
    for (const n of readdirSync(path.join(from, folder))) {
      if (n.endsWith('.seg') || n.endsWith('.done') || n.endsWith('.eml') || n.endsWith('.json')) copyFileSync(path.join(from, folder, n), path.join(to, folder, n));
    }
  }
}

describe('queue: a restore without the matching queue.key', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-restore-key-');
  let old: string;
  beforeEach(() => { old = mkdtempSync(path.join(os.tmpdir(), 'mm-old-host-')); });
  afterEach(() => rmSync(old, { recursive: true, force: true }));

  const start = (): Promise<TestGateway> => startGateway({ dataDir: bed.dataDir, config: { smarthost: `smtp://127.0.0.1:${bed.sink.port}`, http: { listen: ['127.0.0.1:0'] } } });

  it('sets aside what another key sealed, says why, deletes nothing, and delivers it once the right key is back', async () => {
    const { journaled, spooled } = await oldHostQueue(old);
    // The new host's gateway ran once, so it has a key of its own; then the queue's folders were restored over it.
    bed.gw = await start();
    await bed.gw.stop();
    bed.gw = undefined;
    const newKey = readFileSync(path.join(bed.dataDir, 'queue.key'));
    copyQueueFiles(old, bed.dataDir);
    const segment = readdirSync(path.join(old, 'journal')).find((n) => n.endsWith('.seg'))!;

    // Before a start, the list names what it cannot verify rather than leave it out.
    const before = await moatQueue(bed.dataDir, 'list', '--json');
    assert.equal(before.code, 1, before.stderr);
    const rows = before.json as Array<{ id: string; state: string; reason: string }>;
    assert.deepEqual(rows.map((r) => [r.id, r.state]).sort(), [[segment, 'unreadable'], [spooled, 'unreadable']].sort());
    for (const r of rows) assert.match(r.reason, WRONG_KEY);

    bed.gw = await start();
    const logs = bed.gw.logs;
    assert.equal(logs.find((l) => l.msg === 'queue recovered')?.broken, 4);
    assert.equal(logs.find((l) => l.msg === 'queue recovered')?.orphans_removed, 0);
    const summary = logs.find((l) => l.level === 'error' && String(l.msg).startsWith('queue files set aside in data_dir/corrupt'));
    assert.match(String(summary?.msg), WRONG_KEY);
    assert.equal(summary?.seal_mismatch, 4);
    const named = logs.filter((l) => l.level === 'error' && l.msg === 'queued message set aside in data_dir/corrupt: not delivered until mended').map((l) => l.qid);
    assert.deepEqual(named.sort(), [...journaled, spooled].sort());
    assert.ok(logs.some((l) => l.level === 'error' && String(l.msg).startsWith('journal segment set aside') && l.messages === 3));
    const metrics = await (await fetch(`http://127.0.0.1:${bed.gw.gateway.admin!.addresses[0].port}/metrics`)).text();
    assert.match(metrics, /^mailmoat_queue_broken 4$/m);

    // Nothing deleted: the files are whole in the set-aside folder, and the key is the new host's still.
    const aside = path.join(bed.dataDir, 'corrupt');
    assert.deepEqual(readFileSync(path.join(aside, 'journal', segment)), readFileSync(path.join(old, 'journal', segment)));
    assert.deepEqual(readFileSync(path.join(aside, 'queue', `${spooled}.eml`)), readFileSync(path.join(old, 'queue', `${spooled}.eml`)));
    assert.deepEqual(readFileSync(path.join(bed.dataDir, 'queue.key')), newKey);
    assert.equal(bed.sink.messages.length, 0);

    const listed = await moatQueue(bed.dataDir, 'list');
    assert.equal(listed.code, 1);
    assert.match(listed.stdout, new RegExp(`^${spooled}  unreadable .*corrupt/queue/${spooled}\\.eml: set aside by a start`, 'm'));

    const config = path.join(old, 'doctor.yaml');
    writeFileSync(config, `data_dir: ${bed.dataDir}\ndomains: [example.com]\ndns:\n  servers: ['127.0.0.1:9']\n`);
    const doctor = await capture(() => doctorCli(['--config', config]));
    assert.equal(doctor.code, 1);
    assert.match(doctor.out, new RegExp(`^FAIL data_dir: 2 file\\(s\\) set aside in ${aside}: acknowledged mail`, 'm'));

    // The admin puts the old host's key back: the next start puts the files back and delivers them.
    await bed.gw.stop();
    copyFileSync(path.join(old, 'queue.key'), path.join(bed.dataDir, 'queue.key'));
    bed.gw = await start();
    const got = await bed.sink.waitFor(4, 20_000);
    assert.deepEqual(got.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString('latin1'))![1]).sort(), ['journaled 0', 'journaled 1', 'journaled 2', 'spooled']);
    assert.equal(bed.gw.logs.find((l) => l.msg === 'set-aside queue files verify under queue.key now: put back into the queue')?.count, 2);
    assert.equal(bed.gw.logs.find((l) => l.msg === 'queue recovered')?.broken, 0);
    assert.deepEqual(readdirSync(path.join(aside, 'queue')), []);
    assert.deepEqual(readdirSync(path.join(aside, 'journal')), []);
  });

  it('merging queues: held on the old host, its pairs of files move to another gateway and are delivered there', async () => {
    const { journaled, spooled } = await oldHostQueue(old);
    // The supported way (README, Backup): hold everything, which moves journaled mail out to files with state files.
    const held = await moatQueue(old, 'hold', '--all');
    assert.equal(held.code, 0, held.stderr);
    assert.deepEqual(readdirSync(path.join(old, 'journal')).filter((n) => n.endsWith('.seg')), []);
    const pairs = readdirSync(path.join(old, 'queue')).sort();
    assert.deepEqual(pairs, [...journaled, spooled].flatMap((id) => [`${id}.eml`, `${id}.json`]).sort());
    // Another gateway, with a key of its own, takes the pairs: their state files need no key.
    bed.gw = await start();
    await bed.gw.stop();
    for (const n of pairs) copyFileSync(path.join(old, 'queue', n), path.join(bed.dataDir, 'queue', n));
    bed.gw = await start();
    assert.equal(bed.gw.logs.find((l) => l.msg === 'queue recovered')?.broken, 0);
    const released = await moatQueue(bed.dataDir, 'release', '--all');
    assert.equal(released.code, 0, released.stderr);
    await bed.sink.waitFor(4, 20_000);
  });

  it('with no queue.key at all: the start refuses, moat queue list and show say why, and neither creates a key', async () => {
    const { spooled } = await oldHostQueue(old);
    // A new host's data_dir that no gateway ran on yet: only the queue's folders restored.
    for (const folder of ['journal', 'queue']) mkdirSync(path.join(bed.dataDir, folder));
    copyQueueFiles(old, bed.dataDir);
    const key = path.join(bed.dataDir, 'queue.key');

    const listed = await moatQueue(bed.dataDir, 'list');
    assert.equal(listed.code, 1);
    assert.match(listed.stderr, /queue\.key is missing, and 1 journal segment\(s\) and 1 message file\(s\) without a state file in the queue were sealed with it: they cannot be read without it\. Restore queue\.key/);
    const shown = await moatQueue(bed.dataDir, 'show', spooled);
    assert.equal(shown.code, 1);
    assert.match(shown.stderr, /queue\.key is missing/);
    assert.equal(existsSync(key), false, 'a view never creates the key');

    await assert.rejects(start(), /queue\.key is missing, .*: the queue is not taken over without it/);
    assert.equal(existsSync(key), false, 'nor does a start that refuses');
    assert.equal(readdirSync(path.join(bed.dataDir, 'journal')).filter((n) => n.endsWith('.seg')).length, 1);

    copyFileSync(path.join(old, 'queue.key'), key);
    bed.gw = await start();
    await bed.sink.waitFor(4, 20_000);
  });
});
