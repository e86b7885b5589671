// A release from the quarantine for one recipient, killed at each step: the recipient gets the message exactly once,
// whether the release is run again before any start or a start settles it first, and the other recipient stays held.
// The states a kill leaves are made with real files, as the release's own steps leave them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { FileQueueActions } from '../../../core/queue/file-actions.ts';
import { FolderAwareActions } from '../../../core/queue/admin-ops.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';
import { moatQueue } from '../queue/moat-queue.ts';
import { until } from '../queue/send.ts';

const ID = 'q0000000000000000001';
const COPY = `${ID}r0`;
const body = Buffer.from('From: x@client.example\r\nTo: ann@example.com, bob@example.com\r\nSubject: false positive\r\n\r\nthe body\r\n');

type Step = 'inside the copy (no state file yet)' | 'after the copy was queued';

describe('quarantine: a release for one recipient killed at each step', function () {
  this.timeout(40_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mm-rrelease-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const files = (folder: string) => readdirSync(path.join(dir, folder)).sort();

  async function killedRelease(step: Step): Promise<void> {
    const store = new QueueStore(dir);
    await store.recover();
    const e: QueueEntry = {
      id: ID, mailFrom: 'x@client.example', recipients: [{ address: 'ann@example.com', status: 'pending' }, { address: 'bob@example.com', status: 'pending' }],
      prepend: 'X-Mailmoat-Verdict: quarantine; score=9\r\n', remove: [], receivedAt: Date.now(), size: body.length,
      client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: Date.now(), history: [],
    };
    writeFileSync(store.emlPath(ID), body);
    await store.commitTo('quarantine', e);
    if (step === 'inside the copy (no state file yet)') writeFileSync(store.emlPath(COPY), body.subarray(0, 20));
    else {
      // The release itself, until its second step (marking Ann done in the quarantine) meets a directory in the way.
      const tmp = `${store.jsonPath(ID, 'quarantine')}.tmp`;
      mkdirSync(tmp);
      await assert.rejects(new FolderAwareActions(new FileQueueActions(store), store).releaseForRecipient(ID, 'ann@example.com'));
      rmdirSync(tmp);
      assert.deepEqual(files('queue'), [`${COPY}.eml`, `${COPY}.json`]);
    }
    store.close();
  }

  /** A gateway on the data_dir delivers what the queue holds; the quarantine keeps Bob only. */
  async function deliverAndCheck(expectAnn: number): Promise<void> {
    const sink = await startSmarthost();
    const g = await startGateway({ dataDir: dir, config: { smarthost: `smtp://127.0.0.1:${sink.port}` } });
    try {
      if (expectAnn) await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === COPY), 10_000, 'the copy delivered');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(sink.messages.map((m) => m.rcptTo), Array(expectAnn).fill(['ann@example.com']), 'Ann gets it exactly once');
      const held = await g.gateway.runtime.queue.load(ID, 'quarantine');
      assert.deepEqual(held?.recipients.map((r) => [r.address, r.status]), [['ann@example.com', 'released'], ['bob@example.com', 'pending']]);
    } finally { await g.stop(); await sink.stop(); }
  }

  for (const step of ['inside the copy (no state file yet)', 'after the copy was queued'] as Step[]) {
    it(`killed ${step}: released again before any start, Ann gets it once`, async () => {
      await killedRelease(step);
      const r = await moatQueue(dir, 'release', ID, '--recipient', 'ann@example.com', '--json');
      assert.deepEqual(r.json, { results: { [ID]: 'done' }, via: 'files' }, r.stderr);
      assert.equal((await moatQueue(dir, 'release', ID, '--recipient', 'ann@example.com')).code, 1, 'a third release finds Ann done');
      // Edited without a gateway: noted for the next start's log, with the recipient.
      const trail = readFileSync(path.join(dir, 'admin-trail.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(trail.map((n) => [n.op, n.qid, n.to, n.result]), [['release', ID, 'ann@example.com', 'done'], ['release', ID, 'ann@example.com', 'unchanged']]);
      assert.deepEqual(files('queue'), [`${COPY}.eml`, `${COPY}.json`], 'one copy');
      await deliverAndCheck(1);
    });
  }

  it('killed after the copy was queued: the next start marks Ann done before delivering, and a release then does nothing', async () => {
    await killedRelease('after the copy was queued');
    await deliverAndCheck(1);
    const r = await moatQueue(dir, 'release', ID, '--recipient', 'ann@example.com', '--json');
    assert.deepEqual(r.json, { results: { [ID]: 'unchanged' }, via: 'files' });
    assert.deepEqual(files('queue'), []);
  });

  it('killed inside the copy: the start drops the half copy, Ann is still held and nothing is delivered', async () => {
    await killedRelease('inside the copy (no state file yet)');
    const sink = await startSmarthost();
    const g = await startGateway({ dataDir: dir, config: { smarthost: `smtp://127.0.0.1:${sink.port}` } });
    try {
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(sink.messages.length, 0);
      assert.deepEqual(files('queue').filter((f) => f.startsWith(COPY)), []);
      const held = await g.gateway.runtime.queue.load(ID, 'quarantine');
      assert.deepEqual(held?.recipients.map((r) => r.status), ['pending', 'pending']);
    } finally { await g.stop(); await sink.stop(); }
  });
});
