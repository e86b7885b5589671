// `moat queue release ID` of a quarantined message, killed at each step of its move into the queue: the release is
// done or not done, never lost, and a release run again after the kill (with or without a start in between) finishes
// it exactly once. The states a kill leaves are made with real files, as the release's own steps leave them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { formatHeader } from '../../../core/message/header-block.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { until } from './send.ts';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');
const execFileP = promisify(execFile);
const ID = 'q0000000000000000001';
const body = Buffer.from('From: x@client.example\r\nTo: r@example.com\r\nSubject: false positive\r\n\r\nthe body\r\n');

/** `moat queue release ID --json` on the files (no gateway runs): the result for ID and the exit code. */
async function releaseByCli(dataDir: string): Promise<{ result: string; code: number }> {
  try {
    const { stdout } = await execFileP(process.execPath, [MOAT, 'queue', 'release', ID, '--json', '--data-dir', dataDir], { timeout: 20_000 });
    return { result: JSON.parse(stdout).results[ID], code: 0 };
  } catch (e) {
    const err = e as { code: number; stdout: string };
    return { result: JSON.parse(err.stdout).results[ID], code: err.code };
  }
}

type Step = 'before the queue state' | 'after the queue state' | 'after the rename' | 'after the quarantine state went';

describe('queue: a release from quarantine killed at each step', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-qrelease-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const files = (folder: string) => readdirSync(path.join(dir, folder)).sort();

  /** A message quarantined at intake, then a release killed at `step`, as the release's own file operations leave it. */
  async function killedRelease(step: Step): Promise<void> {
    const store = new QueueStore(dir);
    await store.recover();
    const e: QueueEntry = {
      id: ID, mailFrom: 'x@client.example', recipients: [{ address: 'r@example.com', status: 'pending' }],
      prepend: 'X-Mailmoat-Verdict: quarantine; score=9\r\n', remove: [], receivedAt: Date.now(), size: body.length,
      client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: Date.now(), history: [],
    };
    writeFileSync(store.emlPath(ID), body);
    await store.commitTo('quarantine', e);
    if (step !== 'before the queue state') {
      // The entry as the release makes it, moved by the store until its rename meets a directory in the way: the kill.
      e.nextAttemptAt = Date.now();
      e.prepend += formatHeader('X-Mailmoat-Released', 'from quarantine by the administrator; test');
      mkdirSync(store.emlPath(ID));
      await assert.rejects(store.commitTo('queue', e, 'quarantine'));
      rmdirSync(store.emlPath(ID));
      assert.deepEqual([files('queue'), files('quarantine')], [[`${ID}.json`], [`${ID}.eml`, `${ID}.json`]]);
    }
    if (step === 'after the rename' || step === 'after the quarantine state went') renameSync(store.emlPath(ID, 'quarantine'), store.emlPath(ID));
    if (step === 'after the quarantine state went') unlinkSync(store.jsonPath(ID, 'quarantine'));
    store.close();
  }

  /** What a start finds: exactly one copy of the message, in the queue, released once, byte for byte; nothing else. */
  async function assertReleasedOnce(): Promise<void> {
    const store = new QueueStore(dir);
    const r = await store.recover();
    store.close();
    assert.deepEqual(r.entries.map((x) => x.id), [ID], 'queued once');
    assert.deepEqual(r.broken, []);
    assert.equal(r.entries[0].prepend.match(/^X-Mailmoat-Released:/gm)?.length, 1, 'marked released once');
    assert.deepEqual(readFileSync(path.join(dir, 'queue', `${ID}.eml`)), body);
    assert.deepEqual(files('quarantine'), [], 'nothing left in the quarantine to release again');
  }

  const steps: Step[] = ['before the queue state', 'after the queue state', 'after the rename', 'after the quarantine state went'];

  for (const step of steps) {
    it(`killed ${step}: released again before any start, it is queued exactly once`, async () => {
      await killedRelease(step);
      const first = await releaseByCli(dir);
      const done = step === 'before the queue state' || step === 'after the queue state';
      // Not done yet: this release does it. Done already (the message is in the queue): nothing more to do.
      assert.deepEqual(first, done ? { result: 'done', code: 0 } : { result: 'unchanged', code: 0 });
      const again = await releaseByCli(dir);
      assert.notEqual(again.result, 'done', 'a third release finds nothing to move');
      await assertReleasedOnce();
    });
  }

  for (const step of ['after the queue state', 'after the rename'] as const) {
    it(`killed ${step}: a start settles it, and a release then finishes it once`, async () => {
      await killedRelease(step);
      const store = new QueueStore(dir);
      const r = await store.recover();
      store.close();
      // Before the rename the message is still only in the quarantine; after it, only in the queue.
      assert.deepEqual(r.entries.map((x) => x.id), step === 'after the rename' ? [ID] : []);
      assert.deepEqual(files('quarantine'), step === 'after the rename' ? [] : [`${ID}.eml`, `${ID}.json`]);
      const listed = await execFileP(process.execPath, [MOAT, 'queue', 'list', '--folder', 'quarantine', '--json', '--data-dir', dir]);
      assert.deepEqual(JSON.parse(listed.stdout).map((x: QueueEntry) => x.id), step === 'after the rename' ? [] : [ID]);
      if (step === 'after the queue state') assert.deepEqual(await releaseByCli(dir), { result: 'done', code: 0 });
      await assertReleasedOnce();
    });
  }

  it('killed after the rename, delivered by the next start: a release again delivers nothing more', async () => {
    await killedRelease('after the rename');
    const sink = await startSmarthost();
    const g = await startGateway({ dataDir: dir, config: { smarthost: `smtp://127.0.0.1:${sink.port}` } });
    try {
      await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === ID), 10_000, 'the released message delivered');
      const a = await execFileP(process.execPath, [MOAT, 'queue', 'release', ID, '--json', '--data-dir', dir]).catch((e) => e as { stdout: string });
      assert.deepEqual(JSON.parse(a.stdout), { results: { [ID]: 'missing' }, via: 'gateway' });
      assert.equal(sink.messages.length, 1);
      assert.match(sink.messages[0].raw.toString('latin1'), /^X-Mailmoat-Released: /m);
    } finally { await g.stop(); await sink.stop(); }
  });
});
