// `moat queue …` as an admin runs it (a child process), against a running gateway and against the files alone.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startGateway } from '../../helpers/gateway.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, sleep, until } from './send.ts';



describe('moat queue', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-qcli-');

  const start = () => startGateway({ dataDir: bed.dataDir, config: { domains: ['example.com', 'example.net', 'example.org'], smarthost: `smtp://127.0.0.1:${bed.sink.port}`, queue: { retry_schedule: ['1h'] } } })
    .then((g) => { bed.gw = g; return g; });

  it('list, show and overview describe deferred messages', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    bed.sink.rcptReplies.set('b@example.com', 451);
    bed.sink.rcptReplies.set('c@example.net', 451);
    const g = await start();
    const s1 = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com', 'b@example.com'], subject: 'first' });
    const s2 = await sendMail(g.port, { from: 'y@client.example', to: ['c@example.net'], subject: 'second' });
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 2, 5000, 'both deferred');

    const list = await moat(bed.dataDir, 'list', '--json');
    assert.equal(list.code, 0);
    assert.deepEqual(list.json.map((r: any) => r.id), [s1.queueId, s2.queueId], 'oldest first');
    const r1 = list.json[0];
    assert.equal(r1.sender, 'x@client.example');
    assert.deepEqual(r1.recipients, ['a@example.com', 'b@example.com']);
    assert.equal(r1.attempts, 1);
    assert.equal(r1.state, 'deferred');
    assert.ok(r1.nextAttempt > Date.now() + 30 * 60_000);
    assert.match(r1.lastReply, /^451/);
    assert.ok(r1.age >= 0 && r1.age < 60_000);

    const text = await moat(bed.dataDir, 'list');
    assert.match(text.stdout, new RegExp(`${s1.queueId} .* deferred .*<x@client\\.example> -> a@example\\.com, b@example\\.com`));

    const show = await moat(bed.dataDir, 'show', s1.queueId!, '--json');
    assert.equal(show.json.folder, 'queue');
    assert.ok(show.json.headers.some((h: any) => h.name === 'Subject' && h.value === 'first'));
    assert.ok(show.json.headers.some((h: any) => h.name === 'Received'));
    assert.equal(show.json.entry.history.length, 1);
    assert.match(show.json.entry.history[0].result, /a@example\.com: 451/);
    assert.match((await moat(bed.dataDir, 'show', s1.queueId!)).stdout, /history:\n {2}\S+ {2}a@example\.com: 451/);

    const ov = await moat(bed.dataDir, 'overview', '--json');
    assert.deepEqual(ov.json.map((r: any) => [r.domain, r.messages, r.recipients, r.deferred]), [['example.com', 1, 2, 1], ['example.net', 1, 1, 1]]);
    assert.match((await moat(bed.dataDir, 'overview')).stdout, /example\.com\s+1\s+2/);
    assert.equal((await moat(bed.dataDir, 'show', 'nosuchid0000')).code, 1);
  });

  it('hold, flush, release and delete act through the running gateway', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    bed.sink.rcptReplies.set('d@example.org', 451);
    const g = await start();
    assert.ok(existsSync(path.join(bed.dataDir, 'control.sock')));
    const held = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    const mixed = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com', 'd@example.org'] });
    const gone = await sendMail(g.port, { from: 'spammer@client.example', to: ['a@example.com'] });
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 3, 5000, 'all deferred');

    const h = await moat(bed.dataDir, 'hold', held.queueId!, '--json');
    assert.deepEqual(h.json, { results: { [held.queueId!]: 'done' }, via: 'gateway' });
    bed.sink.rcptReplies.clear();
    bed.sink.rcptReplies.set('d@example.org', 451);
    // flush: everything deferred is retried now, except the held message.
    const f = await moat(bed.dataDir, 'flush', '--json');
    assert.equal(f.json.via, 'gateway');
    assert.equal(f.json.flushed, 3 - 1);
    await bed.sink.waitFor(2);
    await sleep(300);
    const got = bed.sink.messages.map((m) => m.mailFrom).sort();
    assert.deepEqual(got, ['spammer@client.example', 'x@client.example']);
    assert.equal((await moat(bed.dataDir, 'list', '--json')).json.find((r: any) => r.id === held.queueId).state, 'held');

    // delete --to: the mixed message loses its example.org recipient and leaves the queue.
    const del = await moat(bed.dataDir, 'delete', '--to', 'example.org', '--json');
    assert.deepEqual(del.json.results, { [mixed.queueId!]: 'done' });
    assert.equal((await moat(bed.dataDir, 'list', '--json')).json.some((r: any) => r.id === mixed.queueId), false);

    const rel = await moat(bed.dataDir, 'release', held.queueId!, '--json');
    assert.deepEqual(rel.json.results, { [held.queueId!]: 'done' });
    await bed.sink.waitFor(3);
    await until(async () => (await moat(bed.dataDir, 'list', '--json')).json.length === 0, 5000, 'empty queue');
    void gone;
  });

  it('works on the files when no gateway runs, and the next start honours it', async () => {
    bed.sink.rcptReplies.set('a@example.com', 451);
    let g = await start();
    const s1 = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    const s2 = await sendMail(g.port, { from: 'spam@client.example', to: ['a@example.com'] });
    const s3 = await sendMail(g.port, { from: 'x@client.example', to: ['a@example.com'] });
    await until(() => g.logs.filter((l) => l.msg === 'deferred').length >= 3, 5000, 'deferred');
    await g.stop(); bed.gw = undefined;
    assert.equal(existsSync(path.join(bed.dataDir, 'control.sock')), false);

    assert.deepEqual((await moat(bed.dataDir, 'hold', s1.queueId!, '--json')).json, { results: { [s1.queueId!]: 'done' }, via: 'files' });
    assert.deepEqual((await moat(bed.dataDir, 'delete', '--from', 'spam@client.example', '--json')).json.results, { [s2.queueId!]: 'done' });
    assert.equal((await moat(bed.dataDir, 'flush', '--json')).json.flushed, 1);
    const bad = await moat(bed.dataDir, 'hold', 'nosuchid0000', '--json');
    assert.equal(bad.code, 1);

    bed.sink.rcptReplies.clear();
    g = await start();
    const [m] = await bed.sink.waitFor(1);
    assert.match(m.raw.toString(), new RegExp(`id ${s3.queueId}`));
    await sleep(300);
    assert.equal(bed.sink.messages.length, 1, 'the held message stays');
    assert.equal((await moat(bed.dataDir, 'release', s1.queueId!, '--json')).json.via, 'gateway');
    await bed.sink.waitFor(2);
  });
});
