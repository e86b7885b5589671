// `moat queue` on many messages beside a running gateway: a list answered from the gateway's memory must say exactly
// what the file reader says, and hold/delete of many ids go in bulk requests, each message with its own result, its
// own log line, and a failure of one that stops none of the others.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { ControlClient, controlRequest } from '../../../core/control/client.ts';
import { BULK_IDS_MAX, socketPath, type ListReply } from '../../../core/control/protocol.ts';
import { QueueStore, type QueueFolder } from '../../../core/queue/queue-store.ts';
import { listedEntry, listRow } from '../../../core/queue/inspect.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/plugins/test-behaviour.ts');


describe('moat queue on many messages through the gateway', function () {
  this.timeout(30_000);
  const bed = queueBed('mm-qbulk-');

  const start = () => startGateway({ dataDir: bed.dataDir, config: {
    domains: ['example.com', 'example.net', 'example.org'], smarthost: `smtp://127.0.0.1:${bed.sink.port}`,
    queue: { retry_schedule: ['1h'] }, plugins: [{ name: 'test-behaviour', module: FIXTURE }],
  } }).then((g) => { bed.gw = g; return g; });

  /** `n` messages the smarthost defers (451 for every recipient), each with its queue id. */
  async function deferred(g: TestGateway, n: number, to: (i: number) => string[]): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      for (const r of to(i)) bed.sink.rcptReplies.set(r, 451);
      ids.push((await sendMail(g.port, { from: `s${i}@client.example`, to: to(i) })).queueId!);
    }
    await until(() => ids.every((id) => g.logs.some((l) => l.msg === 'deferred' && l.qid === id)), 10_000, 'all deferred');
    return ids;
  }

  it('list from the gateway says exactly what the file reader says, in every folder', async () => {
    const g = await start();
    const ids = await deferred(g, 6, (i) => [`u${i}@example.com`, ...(i % 2 ? [`v${i}@example.net`] : [])]);
    const quarantined = await sendMail(g.port, { from: 'q@client.example', to: ['a@example.com'], subject: 'please-quarantine' });
    bed.sink.rcptReplies.set('dead@example.org', 550);
    const dead = await sendMail(g.port, { from: 'd@client.example', to: ['dead@example.org'] });
    await until(() => g.logs.some((l) => /dead-letter/.test(String(l.msg)) && l.qid === dead.queueId), 5000, 'dead-lettered');
    // Held: no longer scheduled, so the gateway reads its file; the others come from its memory.
    assert.equal((await moat(bed.dataDir, 'hold', ids[2], ids[4], '--json')).code, 0);
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 6 && bed.sink.messages.length >= 1, 5000, 'the bounce for the dead letter relayed');

    const files = new QueueStore(bed.dataDir);
    for (const folder of ['queue', 'quarantine', 'deadletter'] as QueueFolder[]) {
      const live = await controlRequest(socketPath(bed.dataDir), { op: 'list', folder }) as ListReply;
      const onDisk = (await files.list(folder)).map(listedEntry);
      assert.deepEqual(live.entries, onDisk, folder);
      assert.deepEqual(live.busy, [], 'nothing in flight');
      // And the command's own output, the age aside (it moves on between two runs), and the Subject it reads of a
      // quarantined message's file.
      const now = Date.now();
      const expected = onDisk.map((e) => { const { age: _age, ...row } = listRow(e, folder, new Set(), now); return row; });
      const json = (await moat(bed.dataDir, 'list', '--folder', folder, '--json')).json;
      const shown = json.map(({ age: _age, subject: _subject, ...row }: any) => row);
      assert.deepEqual(shown, expected, folder);
      assert.deepEqual(json.map((r: any) => r.subject), onDisk.map(() => (folder === 'quarantine' ? 'please-quarantine' : undefined)), folder);
    }
    const queued = (await controlRequest(socketPath(bed.dataDir), { op: 'list' }) as ListReply).entries;
    assert.deepEqual(queued.map((e) => [e.id, e.held]), ids.map((id, i) => [id, i === 2 || i === 4]), 'scheduled and held messages, oldest first');
    assert.deepEqual((await controlRequest(socketPath(bed.dataDir), { op: 'list', folder: 'quarantine' }) as ListReply).entries.map((e) => e.id), [quarantined.queueId]);
  });

  it('holds many messages in one request: each its own result and log line, one failure stops none of the others', async () => {
    const g = await start();
    const ids = await deferred(g, 12, (i) => [`u${i}@example.com`]);
    // A directory where the message's new state file would be written: its hold fails for real (EISDIR).
    const broken = ids[5];
    mkdirSync(path.join(bed.dataDir, 'queue', `${broken}.json.tmp`));

    const held = await moat(bed.dataDir, 'hold', ...ids, 'nosuchid0000', '--json');
    assert.equal(held.code, 1, held.stderr);
    assert.equal(held.json.via, 'gateway');
    assert.deepEqual(Object.keys(held.json.results), [...ids, 'nosuchid0000'], 'in the order named');
    for (const id of ids) assert.equal(held.json.results[id], id === broken ? 'error' : 'done', id);
    assert.equal(held.json.results.nosuchid0000, 'missing');
    assert.match(held.json.errors[broken], /EISDIR/);
    assert.match(held.stderr, new RegExp(`^${broken}: hold failed: `, 'm'));

    const logged = g.logs.filter((l) => l.msg === 'control request' && l.op === 'hold');
    assert.deepEqual(logged.map((l) => l.qid).sort(), [...ids.filter((id) => id !== broken), 'nosuchid0000'].sort());
    assert.ok(logged.every((l) => l.component === 'control' && (l.result === 'done' || l.qid === 'nosuchid0000')));
    assert.ok(g.logs.some((l) => l.msg === 'control request failed' && l.qid === broken && l.op === 'hold'));

    rmSync(path.join(bed.dataDir, 'queue', `${broken}.json.tmp`), { recursive: true });
    const rows = (await moat(bed.dataDir, 'list', '--json')).json;
    assert.deepEqual(rows.map((r: any) => [r.id, r.state]), ids.map((id) => [id, id === broken ? 'deferred' : 'held']), 'the failed hold left it scheduled');
  });

  it('delete --to removes every matching message in bulk, and a request longer than one batch is split', async () => {
    const g = await start();
    const ids = await deferred(g, 10, (i) => [`u${i}@example.org`, ...(i < 3 ? [`k${i}@example.com`] : [])]);
    const del = await moat(bed.dataDir, 'delete', '--to', 'example.org', '--json');
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(del.json, { results: Object.fromEntries(ids.map((id) => [id, 'done'])), via: 'gateway' });
    const rest = (await moat(bed.dataDir, 'list', '--json')).json;
    assert.deepEqual(rest.map((r: any) => [r.id, r.recipients]), [0, 1, 2].map((i) => [ids[i], [`k${i}@example.com`]]), 'only the other domain\'s recipients stay');
    assert.equal(g.logs.filter((l) => l.msg === 'control request' && l.op === 'delete' && l.domain === 'example.org').length, 10);

    // More ids than one request carries: every one answered.
    const many = Array.from({ length: BULK_IDS_MAX + 5 }, (_, i) => `nosuch${String(i).padStart(6, '0')}`);
    const reply = await new ControlClient(socketPath(bed.dataDir)).bulk('release', many);
    assert.deepEqual(reply.errors, {});
    assert.equal(Object.keys(reply.results).length, many.length);
    assert.ok(Object.values(reply.results).every((r) => r === 'missing'));
  });
});
