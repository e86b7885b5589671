// `moat queue … --older-than AGE / --newer-than AGE` pick messages by when they were received, like the other
// selectors, for list and for the verbs, through the running gateway; an age without its unit is a usage error.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { moatQueue } from './moat-queue.ts';
import { sendMail } from './send.ts';

describe('moat queue: --older-than and --newer-than', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  it('list, hold and delete pick messages by age; a bare number is refused', async () => {
    // Nothing listens at the smarthost: every message stays deferred.
    gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${await freePort()}`, queue: { retry_schedule: ['1h'] } } });
    const g = gw;
    const old = await sendMail(g.port, { from: 'a@client.example', to: ['old@example.com'] });
    const oldAt = Date.now();
    // Eight seconds apart, so an age between the two stays between them for the 4 s a run of moat may take on a busy
    // machine (it is computed before the command starts).
    await waitUntil('the first message eight seconds old', () => Date.now() - oldAt >= 8_000, 12_000);
    const young = await sendMail(g.port, { from: 'a@client.example', to: ['young@example.com'] });
    const youngAt = Date.now();
    // An age between the two messages' as the command runs (each run of moat takes a moment): 4 s from either.
    const between = () => `${((Date.now() - (oldAt + youngAt) / 2) / 1000).toFixed(3)}s`;
    await waitUntil('both deferred', () => [old, young].every((m) => g.logs.some((l) => l.msg === 'deferred' && l.qid === m.queueId)));

    const ids = async (...args: string[]) => ((await moatQueue(g.dataDir, 'list', '--json', ...args)).json as Array<{ id: string }>).map((r) => r.id);
    assert.deepEqual(await ids('--older-than', between()), [old.queueId]);
    assert.deepEqual(await ids('--newer-than', between()), [young.queueId]);
    assert.deepEqual(await ids('--older-than', '1h'), []);
    assert.deepEqual(await ids('--newer-than', '1h', '--to', 'young@example.com'), [young.queueId]);
    const text = await moatQueue(g.dataDir, 'list', '--older-than', between());
    assert.match(text.stdout, new RegExp(`^${old.queueId} .* <a@client\\.example> -> old@example\\.com$`, 'm'));
    assert.match(text.stdout, /^1 message\(s\)$/m);
    assert.match((await moatQueue(g.dataDir, 'list', '--older-than', '1h')).stdout, /^no matching message$/m);

    const held = await moatQueue(g.dataDir, 'hold', '--older-than', between());
    assert.equal(held.code, 0, held.stderr);
    assert.match(held.stdout, /held 1 message/);
    assert.deepEqual(await ids('--state', 'held'), [old.queueId]);
    const deleted = await moatQueue(g.dataDir, 'delete', '--newer-than', between());
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await ids(), [old.queueId]);

    for (const bad of [['--older-than', '3'], ['--newer-than', 'soon']]) {
      const r = await moatQueue(g.dataDir, 'list', ...bad);
      assert.equal(r.code, 64);
      assert.match(r.stderr, new RegExp(`${bad[0]} takes an age with its unit, such as 30m, 2h or 4d, not "${bad[1]}"`));
    }
    const both = await moatQueue(g.dataDir, 'delete', '--all', '--older-than', between(), '--yes');
    assert.equal(both.code, 64);
    assert.match(both.stderr, /--all selects every message of the folder/);
  });
});
