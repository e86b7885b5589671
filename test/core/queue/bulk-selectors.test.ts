// `moat queue` selectors at volume, as `postsuper -h ALL`, `-H ALL` and `-d ALL deferred`: --all, --to, --from,
// --folder and --state pick the messages of every verb alike, a bulk command prints its totals (each message only
// with --verbose or --json), `delete --all` wants its folder named or a --yes, and a pattern such as '*' is a usage
// error, not "no matching message". A real gateway, a real smarthost that defers or refuses recipients.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestGateway } from '../../helpers/gateway.ts';
import { startGateway } from '../../helpers/gateway.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../fixtures/plugins/test-behaviour.ts');

describe('moat queue selectors: bulk hold, release and delete', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-qsel-');

  const start = () => startGateway({ dataDir: bed.dataDir, config: {
    domains: ['example.com', 'example.net', 'example.org'], smarthost: `smtp://127.0.0.1:${bed.sink.port}`,
    queue: { retry_schedule: ['1h'], bounces: { send: 'off' } }, plugins: [{ name: 'test-behaviour', module: FIXTURE }],
  } }).then((g) => { bed.gw = g; return g; });

  /** One message to each address, every one deferred by the smarthost (451); their queue ids, oldest first. */
  async function deferred(g: TestGateway, to: string[]): Promise<string[]> {
    const ids: string[] = [];
    for (const [i, r] of to.entries()) {
      bed.sink.rcptReplies.set(r, 451);
      ids.push((await sendMail(g.port, { from: `s${i}@client.example`, to: [r] })).queueId!);
    }
    await until(() => ids.every((id) => g.logs.some((l) => l.msg === 'deferred' && l.qid === id)), 15_000, 'all deferred');
    return ids;
  }

  const idsIn = async (...selectors: string[]) => (await moat(bed.dataDir, 'list', ...selectors, '--json')).json.map((r: any) => r.id);

  it('hold --all holds every deferred message with one total line; release --to and --all let them go again', async () => {
    const g = await start();
    const com = await deferred(g, ['a0@example.com', 'a1@example.com', 'a2@example.com', 'a3@example.com', 'a4@example.com']);
    const net = await deferred(g, ['b0@example.net', 'b1@example.net']);

    const held = await moat(bed.dataDir, 'hold', '--all');
    assert.deepEqual([held.code, held.stdout, held.stderr], [0, 'held 7 messages\n', '']);
    assert.deepEqual(await idsIn('--state', 'held'), [...com, ...net]);
    assert.equal((await moat(bed.dataDir, 'list', '--state', 'deferred')).stdout, 'no matching message\n');
    assert.equal(g.logs.filter((l) => l.msg === 'control request' && l.op === 'hold' && l.result === 'done').length, 7, 'each logged on its own');

    // Held again: nothing left for hold --all to pick.
    assert.deepEqual(await moat(bed.dataDir, 'hold', '--all').then((r) => [r.code, r.stdout]), [0, 'no matching message\n']);

    // The other domain's next hop is fixed: only its messages go, and are delivered.
    bed.sink.rcptReplies.delete('b0@example.net');
    bed.sink.rcptReplies.delete('b1@example.net');
    const byDomain = await moat(bed.dataDir, 'release', '--to', 'example.net');
    assert.deepEqual([byDomain.code, byDomain.stdout], [0, 'released 2 messages\n']);
    await bed.sink.waitFor(2);
    assert.deepEqual(bed.sink.messages.flatMap((m) => m.rcptTo).sort(), ['b0@example.net', 'b1@example.net']);
    assert.deepEqual(await idsIn('--state', 'held'), com, 'example.com still held');

    // --verbose: each message's line, then the total.
    const all = await moat(bed.dataDir, 'release', '--all', '--verbose');
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, [...com.map((id) => `${id}: released`), 'released 5 messages', ''].join('\n'));
    // Still deferred by their next hop: they are retried, and wait again.
    await until(async () => (await idsIn('--state', 'deferred')).length === 5, 15_000, 'the released messages deferred again');

    // flush picks the deferred messages the selector names, and says how many it made due.
    const flushed = await moat(bed.dataDir, 'flush', '--from', 's0@client.example');
    assert.deepEqual([flushed.code, flushed.stdout], [0, '1 message due now\n'], flushed.stderr);
    await until(() => g.logs.filter((l) => l.msg === 'deferred' && l.qid === com[0]).length === 3, 15_000, 'the flushed message retried');

    // --json: every message's result, as for ids.
    const json = await moat(bed.dataDir, 'hold', '--from', 's2@client.example', '--json');
    assert.deepEqual(json.json, { results: { [com[2]]: 'done' }, via: 'gateway' });
    assert.deepEqual(await idsIn('--state', 'held'), [com[2]]);
  });

  it('delete --all wants a folder, a state or --yes; a pattern is a usage error; each folder is its own', async () => {
    const g = await start();
    const queued = await deferred(g, ['a0@example.com', 'a1@example.com', 'a2@example.org']);
    bed.sink.rcptReplies.set('gone@example.com', 550);
    const dead = await sendMail(g.port, { from: 'd@client.example', to: ['gone@example.com'] });
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter' && l.qid === dead.queueId), 10_000, 'dead-lettered');
    const quarantined = await sendMail(g.port, { from: 'q@client.example', to: ['a@example.com'], subject: 'please-quarantine' });

    const refused = await moat(bed.dataDir, 'delete', '--all');
    assert.equal(refused.code, 64);
    assert.match(refused.stderr, /delete --all deletes every message of the queue: name the folder or states \(--folder F, --state S\) or confirm with --yes/);
    for (const args of [['delete', '--to', '*'], ['delete', '--from', '*'], ['hold', '--to', '*.example.com'], ['release', '--to', 'example.*']]) {
      const r = await moat(bed.dataDir, ...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /no patterns: --all selects every message/, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    // A verb and a folder or state it cannot change are refused too, rather than selecting nothing.
    assert.equal((await moat(bed.dataDir, 'hold', '--all', '--folder', 'quarantine')).code, 64);
    assert.equal((await moat(bed.dataDir, 'requeue', '--all', '--state', 'deferred')).code, 64);
    assert.equal((await moat(bed.dataDir, 'hold', '--state', 'deferred')).code, 64, 'a state narrows a selector, it is none');
    assert.deepEqual(await idsIn(), queued, 'nothing deleted by the refused commands');

    const byState = await moat(bed.dataDir, 'delete', '--all', '--state', 'deferred');
    assert.deepEqual([byState.code, byState.stdout], [0, 'deleted 3 messages\n']);
    assert.deepEqual(await idsIn(), []);
    assert.deepEqual(await idsIn('--folder', 'deadletter'), [dead.queueId], 'dead-letter is not the queue');
    assert.deepEqual(await idsIn('--folder', 'quarantine'), [quarantined.queueId]);

    const dl = await moat(bed.dataDir, 'delete', '--all', '--folder', 'deadletter');
    assert.deepEqual([dl.code, dl.stdout], [0, 'deleted 1 message\n']);
    const yes = await moat(bed.dataDir, 'delete', '--all', '--yes');
    assert.deepEqual([yes.code, yes.stdout], [0, 'no matching message\n'], '--yes alone: the queue, empty by now');
    assert.deepEqual(await idsIn('--folder', 'quarantine'), [quarantined.queueId], 'the quarantine is named to be emptied');
    assert.deepEqual(await idsIn('--folder', 'deadletter'), []);
  });

  it('works on the files with no gateway running, and the next start logs each change', async () => {
    let g = await start();
    const ids = await deferred(g, ['a0@example.com', 'a1@example.com', 'b0@example.net']);
    await g.stop(); bed.gw = undefined;

    const held = await moat(bed.dataDir, 'hold', '--all');
    assert.deepEqual([held.code, held.stdout], [0, 'held 3 messages\n'], held.stderr);
    const del = await moat(bed.dataDir, 'delete', '--to', 'example.net');
    assert.deepEqual([del.code, del.stdout], [0, 'deleted the recipients in example.net of 1 message\n'], del.stderr);
    const rel = await moat(bed.dataDir, 'release', '--all', '--json');
    assert.deepEqual(rel.json, { results: { [ids[0]]: 'done', [ids[1]]: 'done' }, via: 'files' });
    // Released with no gateway: due at its start.
    assert.deepEqual(await idsIn('--state', 'due'), ids.slice(0, 2));

    bed.sink.rcptReplies.clear();
    g = await start();
    await bed.sink.waitFor(2);
    const noted = g.logs.filter((l) => l.msg === 'queue edited while the gateway was stopped');
    assert.deepEqual(noted.map((l) => `${l.op} ${l.qid} ${l.result}`), [
      ...ids.map((id) => `hold ${id} done`), `delete ${ids[2]} done`, ...ids.slice(0, 2).map((id) => `release ${id} done`),
    ]);
    assert.deepEqual(bed.sink.messages.flatMap((m) => m.rcptTo).sort(), ['a0@example.com', 'a1@example.com']);
  });
});
