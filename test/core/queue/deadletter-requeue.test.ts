// `moat queue requeue`: a dead-lettered message goes back in the queue once its cause is fixed, with a real gateway
// and a real smarthost, through the running gateway and on the files alone. Only the recipients that failed are sent
// again, once; the delivered ones are not.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, sleep, until } from './send.ts';



describe('moat queue requeue: dead-lettered mail delivered once its cause is fixed', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-requeue-');

  const start = (queue: Record<string, unknown> = {}) => startGateway({ dataDir: bed.dataDir, config: {
    domains: ['example.com', 'example.net'], smarthost: `smtp://127.0.0.1:${bed.sink.port}`, queue: { retry_schedule: ['1h'], ...queue },
  } }).then((g) => { bed.gw = g; return g; });

  /** What the smarthost got of the message itself (not of the failure notice about it, which comes from `<>`). */
  const copiesOf = (qid: string, from = 'x@client.example') => bed.sink.messages.filter((m) => m.mailFrom === from && m.raw.toString('latin1').includes(`id ${qid}`));

  /** A message to two recipients: the smarthost takes good@, refuses bad@ for good; it lands in dead-letter. */
  async function halfRefused(g: TestGateway, bad = 'bad@example.com'): Promise<string> {
    bed.sink.rcptReplies.set(bad, 550);
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['good@example.com', bad] });
    assert.equal(s.code, 250);
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter' && l.qid === s.queueId), 5000, 'dead-lettered');
    // The failure notice to the sender, so that what the smarthost gets later is only the requeued message.
    await until(() => bed.sink.messages.some((m) => m.mailFrom === '' && m.raw.toString('latin1').includes(s.queueId!)), 5000, 'failure notice');
    return s.queueId!;
  }

  it('list shows each recipient as delivered or failed with its reply; requeue sends exactly the refused one, once', async () => {
    const g = await start();
    const qid = await halfRefused(g);

    const listed = await moat(bed.dataDir, 'list', '--folder', 'deadletter', '--json');
    const [row] = listed.json;
    assert.equal(row.id, qid);
    assert.deepEqual(row.recipientStatus.map((r: any) => [r.address, r.status]), [['good@example.com', 'delivered'], ['bad@example.com', 'failed']]);
    assert.match(row.recipientStatus[1].reply, /^550 /);
    const text = (await moat(bed.dataDir, 'list', '--folder', 'deadletter')).stdout;
    assert.match(text, /<x@client\.example> -> good@example\.com \(delivered\), bad@example\.com \(failed\)\n/);
    assert.match(text, /^ {4}failed <bad@example\.com>: 550 /m);

    // release names the verb that applies.
    const rel = await moat(bed.dataDir, 'release', qid);
    assert.equal(rel.code, 1);
    assert.match(rel.stdout, /in the dead-letter folder: requeue delivers it again/);

    bed.sink.rcptReplies.clear();
    const before = copiesOf(qid).length;
    assert.equal(before, 1, 'good@ got it the first time');
    const rq = await moat(bed.dataDir, 'requeue', qid, '--json');
    assert.deepEqual(rq.json, { results: { [qid]: 'done' }, via: 'gateway' }, rq.stderr);
    // good@'s delivered line is the first attempt's: the requeue's names bad@.
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === qid && String(l.to) === 'bad@example.com'), 5000, 'delivered after the requeue');
    await sleep(300);
    const copies = copiesOf(qid);
    assert.equal(copies.length, 2, 'one more transaction, no more');
    assert.deepEqual(copies[1].rcptTo, ['bad@example.com'], 'only the refused recipient, not good@ again');
    assert.deepEqual(readdirSync(path.join(bed.dataDir, 'deadletter')), []);

    const metrics = await controlRequest(socketPath(bed.dataDir), { op: 'metrics' }) as Record<string, number>;
    assert.equal(metrics.requeued, 1);
    assert.ok(g.logs.some((l) => l.msg === 'requeued from dead-letter' && l.qid === qid && JSON.stringify(l.to) === '["bad@example.com"]'));
    assert.ok(g.logs.some((l) => l.msg === 'control request' && l.op === 'requeue' && l.qid === qid && l.result === 'done'));

    // Requeued again: it is gone (delivered), and says so.
    const again = await moat(bed.dataDir, 'requeue', qid);
    assert.equal(again.code, 1);
    assert.match(again.stdout, /not found/);
  });

  it('on the files while the gateway is stopped; the next start delivers it and logs the edit', async () => {
    let g = await start();
    const qid = await halfRefused(g);
    await g.stop(); bed.gw = undefined;
    bed.sink.rcptReplies.clear();

    const rq = await moat(bed.dataDir, 'requeue', qid, '--json');
    assert.deepEqual(rq.json, { results: { [qid]: 'done' }, via: 'files' }, rq.stderr);
    assert.ok(existsSync(path.join(bed.dataDir, 'queue', `${qid}.eml`)));
    assert.deepEqual(readdirSync(path.join(bed.dataDir, 'deadletter')), []);
    const [row] = (await moat(bed.dataDir, 'list', '--json')).json;
    assert.deepEqual([row.id, row.recipients, row.attempts], [qid, ['bad@example.com'], 0], 'pending again, attempts from 0');
    assert.ok(row.age < 60_000, 'its lifetime counts from the requeue');
    const shown = await moat(bed.dataDir, 'show', qid);
    assert.match(shown.stdout, /requeued from dead-letter by the administrator: bad@example\.com \(first received /);

    g = await start();
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === qid), 5000, 'delivered after the start');
    await sleep(300);
    const copies = copiesOf(qid);
    assert.equal(copies.length, 2);
    assert.deepEqual(copies[1].rcptTo, ['bad@example.com']);
    const noted = g.logs.filter((l) => l.msg === 'queue edited while the gateway was stopped');
    assert.deepEqual(noted.map((l) => [l.op, l.qid, l.result]), [['requeue', qid, 'done']]);
    const metrics = await controlRequest(socketPath(bed.dataDir), { op: 'metrics' }) as Record<string, number>;
    assert.equal(metrics.relayed, 1, 'the requeued message, delivered to every recipient');
  });

  it('--to requeues only that domain\'s failed recipients, --from and --all select as delete does', async () => {
    const g = await start();
    bed.sink.rcptReplies.set('c@example.net', 550);
    const both = await halfRefused(g, 'bad@example.com');
    const net = await sendMail(g.port, { from: 'y@client.example', to: ['c@example.net'] });
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter' && l.qid === net.queueId), 5000, 'dead-lettered');
    bed.sink.rcptReplies.clear();

    const usage = await moat(bed.dataDir, 'requeue', both, '--all');
    assert.equal(usage.code, 64);
    assert.equal((await moat(bed.dataDir, 'hold', '--all', '--folder', 'deadletter')).code, 64, 'hold does not apply to dead-lettered mail');

    const none = await moat(bed.dataDir, 'requeue', '--to', 'example.net', '--from', 'x@client.example', '--json');
    assert.deepEqual(none.json.results, {}, 'x@ sent nothing that failed in example.net');
    const byDomain = await moat(bed.dataDir, 'requeue', '--to', 'example.net', '--json');
    assert.deepEqual(byDomain.json.results, { [net.queueId!]: 'done' });
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === net.queueId), 5000, 'example.net delivered');

    const all = await moat(bed.dataDir, 'requeue', '--all', '--json');
    assert.deepEqual(all.json.results, { [both]: 'done' });
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === both && String(l.to) === 'bad@example.com'), 5000, 'delivered');
    await sleep(300);
    assert.deepEqual(copiesOf(both).map((m) => m.rcptTo), [['good@example.com'], ['bad@example.com']]);
    assert.deepEqual(copiesOf(net.queueId!, 'y@client.example').map((m) => m.rcptTo), [['c@example.net']]);
    assert.deepEqual((await moat(bed.dataDir, 'list', '--folder', 'deadletter', '--json')).json, []);
    const empty = await moat(bed.dataDir, 'requeue', '--all');
    assert.deepEqual([empty.code, empty.stdout], [0, 'no matching message\n']);
  });

  it('each attempt\'s delivered line names the recipients delivered in it, and counts no earlier ones', async () => {
    const g = await start();
    const line = (msg: string, qid: string) => g.logs.find((l) => l.msg === msg && l.qid === qid);
    const delivered = (qid: string) => g.logs.filter((l) => l.msg === 'delivered' && l.qid === qid).map((l) => [l.attempt, l.rcpts, l.to]);

    // good@ delivered in the attempt that dead-letters bad@: a delivered line of its own, and the dead-letter line
    // names the failed one
    const qid = await halfRefused(g);
    const dead = line('permanent failure: moved to dead-letter', qid)!;
    assert.deepEqual(dead.to, ['bad@example.com']);
    assert.equal((dead.failed as string[]).length, 1);
    assert.match((dead.failed as string[])[0], /^bad@example\.com: 550 /);
    assert.deepEqual(delivered(qid), [[1, 1, ['good@example.com']]]);

    // after the requeue only bad@ is delivered: one recipient, not the message's two
    bed.sink.rcptReplies.clear();
    assert.equal((await moat(bed.dataDir, 'requeue', qid, '--json')).json.results[qid], 'done');
    await until(() => delivered(qid).length === 2, 5000, 'delivered after the requeue');
    assert.deepEqual(delivered(qid)[1], [1, 1, ['bad@example.com']]);

    // the same after a deferral: the first attempt's delivered line names who got it, the flush's only the rest
    bed.sink.rcptReplies.set('later@example.com', 451);
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['now@example.com', 'also@example.com', 'later@example.com'] });
    assert.equal(s.code, 250);
    await until(() => !!line('deferred', s.queueId!), 5000, 'deferred');
    assert.deepEqual(line('deferred', s.queueId!)!.to, ['later@example.com']);
    assert.deepEqual(delivered(s.queueId!), [[1, 2, ['now@example.com', 'also@example.com']]]);
    bed.sink.rcptReplies.clear();
    assert.equal((await moat(bed.dataDir, 'flush', s.queueId!)).code, 0);
    await until(() => delivered(s.queueId!).length === 2, 5000, 'delivered on the flush');
    assert.deepEqual(delivered(s.queueId!)[1], [2, 1, ['later@example.com']]);
  });

  it('a message dead-lettered for its lifetime gets a new one: the next failure defers it again', async () => {
    bed.sink.rcptReplies.set('slow@example.com', 451);
    const g = await start({ retry_schedule: ['200ms'], lifetime: '1s' });
    const s = await sendMail(g.port, { from: 'x@client.example', to: ['slow@example.com'] });
    await until(() => g.logs.some((l) => l.msg === 'lifetime expired: moved to dead-letter' && l.qid === s.queueId), 10_000, 'expired');

    const rq = await moat(bed.dataDir, 'requeue', s.queueId!, '--json');
    assert.equal(rq.json.results[s.queueId!], 'done');
    // Still refused for now: deferred on the schedule, not dead-lettered again at its first attempt.
    const requeuedAt = g.logs.findIndex((l) => l.msg === 'requeued from dead-letter' && l.qid === s.queueId);
    assert.ok(requeuedAt >= 0);
    const after = () => g.logs.slice(requeuedAt);
    await until(() => after().some((l) => l.msg === 'deferred' && l.qid === s.queueId && l.attempt === 1), 5000, 'deferred after the requeue');
    assert.equal(after().some((l) => /dead-letter/.test(String(l.msg)) && l.qid === s.queueId && l.msg !== 'requeued from dead-letter'), false);
    bed.sink.rcptReplies.clear();
    await until(() => g.logs.some((l) => l.msg === 'delivered' && l.qid === s.queueId), 5000, 'delivered on the next attempt');
    assert.deepEqual(copiesOf(s.queueId!).map((m) => m.rcptTo), [['slow@example.com']]);
  });
});
