// A journal segment and its done marks on their way to data_dir/corrupt/journal and back: a crash between the two
// renames, in either direction and in an earlier version's order, never brings back a message delivered from the
// segment; a segment aside whose marks are lost stays there, saying how to put it back anyway.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { setAsideItems } from '../../../core/queue/set-aside.ts';
import { addJournaled, writeQueue } from './restore-files.ts';

const SEG = '0000000001.seg';
const DONE = '0000000001.done';

describe('queue journal: segments set aside and put back with their done marks', () => {
  let old: string;
  let dataDir: string;
  /** The old host's three journaled messages, the first delivered (marked done in the segment). */
  let ids: string[];

  beforeEach(async () => {
    old = mkdtempSync(path.join(os.tmpdir(), 'mm-aside-old-'));
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mm-aside-'));
    ids = await writeQueue(old, async (store) => {
      const out = [await addJournaled(store, 'one'), await addJournaled(store, 'two'), await addJournaled(store, 'three')];
      await store.remove(out[0]);
      return out;
    });
    for (const folder of ['journal', 'corrupt/journal']) mkdirSync(path.join(dataDir, folder), { recursive: true });
  });
  afterEach(() => {
    rmSync(old, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const oldFile = (name: string) => path.join(old, 'journal', name);
  const inJournal = (name: string) => path.join(dataDir, 'journal', name);
  const aside = (name: string) => path.join(dataDir, 'corrupt', 'journal', name);
  const rightKey = () => copyFileSync(path.join(old, 'queue.key'), path.join(dataDir, 'queue.key'));
  const otherKey = () => writeFileSync(path.join(dataDir, 'queue.key'), randomBytes(32), { mode: 0o600 });

  /** A start's recovery of the queue: the ids it would deliver, and what it reports broken. */
  async function recover(): Promise<{ ids: string[]; broken: Array<{ id: string; path: string; reason: string }> }> {
    const quiet = { warn() {}, info() {}, error() {} };
    const store = new QueueStore(dataDir, quiet);
    try {
      const got = await store.recover();
      return { ids: got.entries.map((e) => e.id).sort(), broken: got.broken };
    } finally { store.close(); }
  }
  const live = () => ids.slice(1).sort();

  it('a segment with its marks goes aside under another key and comes back with them under the right one', async () => {
    otherKey();
    copyFileSync(oldFile(SEG), inJournal(SEG));
    copyFileSync(oldFile(DONE), inJournal(DONE));
    const first = await recover();
    assert.deepEqual(first.ids, []);
    assert.deepEqual(readdirSync(path.join(dataDir, 'corrupt', 'journal')).sort(), [DONE, SEG]);
    assert.deepEqual(readFileSync(aside(DONE)), readFileSync(oldFile(DONE)));
    rightKey();
    assert.deepEqual((await recover()).ids, live(), 'the delivered message does not come back');
  });

  it('a crash after the marks went aside and before the segment did: the next start gives the segment its marks back', async () => {
    // What moveSegmentAside leaves when killed between its two renames.
    copyFileSync(oldFile(SEG), inJournal(SEG));
    copyFileSync(oldFile(DONE), aside(DONE));
    rightKey();
    assert.deepEqual((await recover()).ids, live());
    assert.ok(existsSync(inJournal(DONE)));
    assert.deepEqual(readdirSync(path.join(dataDir, 'corrupt', 'journal')), []);
  });

  it('a segment an earlier version moved aside before its marks, cut short there: put back with the marks it left behind', async () => {
    copyFileSync(oldFile(SEG), aside('0000000007.seg'));
    copyFileSync(oldFile(DONE), inJournal('0000000007.done'));
    rightKey();
    assert.deepEqual((await recover()).ids, live());
    assert.deepEqual(readdirSync(path.join(dataDir, 'journal')).sort(), [DONE, SEG]);
  });

  it('a put-back cut short after its marks went back: the next start puts the segment beside them', async () => {
    copyFileSync(oldFile(SEG), aside('0000000007.seg'));
    copyFileSync(oldFile(DONE), inJournal(DONE));
    rightKey();
    assert.deepEqual((await recover()).ids, live());
  });

  it('a segment aside whose marks are lost stays there, says why and how to put it back, and goes back once told to', async () => {
    copyFileSync(oldFile(SEG), aside('0000000007.seg'));
    rightKey();
    const first = await recover();
    assert.deepEqual(first.ids, [], 'not put back: its delivered message would go again');
    assert.ok(existsSync(aside('0000000007.seg')));
    const item = setAsideItems(dataDir).find((i) => i.path === aside('0000000007.seg'));
    assert.match(String(item?.reason), /its done marks \(0000000007\.done\) are missing, so a start does not put it back: every message already delivered from it would go again; to put it back as it is, create an empty 0000000007\.done beside it and restart/);
    assert.ok(first.broken.some((b) => b.path === aside('0000000007.seg') && /done marks .* are missing/.test(b.reason)));
    // The admin accepts that what it delivered may go again.
    writeFileSync(aside('0000000007.done'), '');
    assert.deepEqual((await recover()).ids, ids.slice().sort());
  });

  it('a segment without a done file goes aside with an empty one, so that it can come back as it was', async () => {
    otherKey();
    copyFileSync(oldFile(SEG), inJournal(SEG));
    await recover();
    assert.deepEqual(readdirSync(path.join(dataDir, 'corrupt', 'journal')).sort(), [DONE, SEG]);
    assert.equal(readFileSync(aside(DONE)).length, 0);
    rightKey();
    assert.deepEqual((await recover()).ids, ids.slice().sort(), 'it had no marks: all three, as before it went aside');
  });
});
