// `moat queue list` says why a message waits: each recipient's state (delivered, failed, still pending) and the last
// reply in the text view, as the JSON has them; and --state, --to and --from narrow it as they narrow the actions.
// A real gateway and a real smarthost that takes one recipient, refuses one for good and defers the third.
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

describe('moat queue list: recipients\' states and the state filter', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-qlist-');

  const start = () => startGateway({ dataDir: bed.dataDir, config: {
    domains: ['example.com', 'example.net'], smarthost: `smtp://127.0.0.1:${bed.sink.port}`,
    queue: { retry_schedule: ['1h'], bounces: { send: 'off' } },
  } }).then((g) => { bed.gw = g; return g; });

  it('shows a delivered, a failed and a deferred recipient, the failure\'s reply and the deferral\'s', async () => {
    bed.sink.rcptReplies.set('bad@example.com', 550);
    bed.sink.rcptReplies.set('later@example.net', 451);
    const g = await start();
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['good@example.com', 'bad@example.com', 'later@example.net'] });
    await until(() => g.logs.some((l) => l.msg === 'deferred' && l.qid === s.queueId), 10_000, 'deferred');

    const [row] = (await moat(bed.dataDir, 'list', '--json')).json;
    assert.deepEqual(row.recipientStatus.map((r: any) => [r.address, r.status]), [['good@example.com', 'delivered'], ['bad@example.com', 'failed'], ['later@example.net', 'pending']]);
    assert.match(row.lastReply, /^451 /);

    const text = await moat(bed.dataDir, 'list');
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.match(lines[0], new RegExp(`^${s.queueId} +\\S+ +deferred +<x@client\\.example> -> good@example\\.com \\(delivered\\), bad@example\\.com \\(failed\\), later@example\\.net \\(pending\\)$`));
    // Why it still waits: the deferred recipient's reply, beside the failed one's.
    assert.match(lines[1], /^ {4}received \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}size \d+ {2}attempts 1 {2}next \S+Z {2}last: 451 /);
    assert.match(lines[2], /^ {4}failed <bad@example\.com>: 550 /);
    assert.equal(lines[3], '1 message(s)');
  });

  it('--state, --to and --from pick the messages listed; a selector that is no domain is a usage error', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    bed.sink.rcptReplies.set('b@example.net', 451);
    const g = await start();
    const one = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    const two = await sendMail(g.port, { from: 'y@client.example', to: ['b@example.net'] });
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 2, 10_000, 'both deferred');
    assert.equal((await moat(bed.dataDir, 'hold', two.queueId!)).code, 0);

    const ids = async (...args: string[]) => (await moat(bed.dataDir, 'list', ...args, '--json')).json.map((r: any) => r.id);
    assert.deepEqual(await ids('--state', 'deferred'), [one.queueId]);
    assert.deepEqual(await ids('--state', 'held'), [two.queueId]);
    assert.deepEqual(await ids('--state', 'deferred,held'), [one.queueId, two.queueId]);
    assert.deepEqual(await ids('--to', 'Example.NET.'), [two.queueId]);
    assert.deepEqual(await ids('--from', '<X@client.example>'), [one.queueId]);
    assert.deepEqual(await ids('--state', 'dead'), [], 'the dead-letter folder, empty');
    assert.equal((await moat(bed.dataDir, 'list', '--state', 'held', '--from', 'x@client.example')).stdout, 'no matching message\n');

    for (const args of [['--state', 'nosuch'], ['--state', 'held,dead'], ['--folder', 'quarantine', '--state', 'held'], ['--to', '*'], ['--to', 'a@*'], ['--to', '<>'], ['--all']]) {
      const r = await moat(bed.dataDir, 'list', ...args);
      assert.deepEqual([r.code, r.stdout], [64, ''], `list ${args.join(' ')}: ${r.stderr}`);
    }
  });

  it('--to takes an address as --from does: list and delete pick that recipient alone, not its domain', async () => {
    for (const a of ['alice@example.com', 'bob@example.com', 'carol@example.com']) bed.sink.rcptReplies.set(a, 451);
    const g = await start();
    const both = await sendMail(g.port, { from: 'x@client.example', to: ['alice@example.com', 'bob@example.com'] });
    const other = await sendMail(g.port, { from: 'x@client.example', to: ['carol@example.com'] });
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 2, 10_000, 'both deferred');

    const ids = async (...args: string[]) => (await moat(bed.dataDir, 'list', ...args, '--json')).json.map((r: any) => r.id);
    assert.deepEqual(await ids('--to', 'alice@example.com'), [both.queueId]);
    assert.deepEqual(await ids('--to', '<Alice@Example.COM.>'), [both.queueId], 'case and a trailing dot aside, as for a domain');
    assert.deepEqual(await ids('--to', 'example.com'), [both.queueId, other.queueId]);
    assert.deepEqual(await ids('--to', 'alice@example.net'), []);
    assert.equal((await moat(bed.dataDir, 'list', '--to', 'dave@example.com')).stdout, 'no matching message\n');

    const del = await moat(bed.dataDir, 'delete', '--to', 'alice@example.com');
    assert.deepEqual([del.code, del.stdout], [0, 'deleted <alice@example.com> of 1 message\n'], del.stderr);
    const [row] = (await moat(bed.dataDir, 'list', '--to', 'bob@example.com', '--json')).json;
    assert.deepEqual(row.recipientStatus.map((r: any) => [r.address, r.status]), [['alice@example.com', 'deleted'], ['bob@example.com', 'pending']]);
    assert.deepEqual(await ids('--to', 'example.com'), [both.queueId, other.queueId], 'the others are left alone');
    const line = g.logs.find((l) => l.msg === 'recipients deleted' && l.qid === both.queueId)!;
    assert.deepEqual([line.to, line.domain, line.count], [['alice@example.com'], undefined, 1]);
  });
});
