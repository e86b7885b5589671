// `moat queue --user LOGIN`: an admin who finds an account compromised holds (then deletes, or releases) the mail its
// login queued, and nobody else's. A real gateway with a submission listener and a users file, and a real smarthost
// that defers every recipient, so the mail waits in the queue.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { loggedInSession } from '../smtp/submission-auth.ts';
import { queueBed } from './bed.ts';
import { moatQueue as moat } from './moat-queue.ts';
import { sendMail, until } from './send.ts';

describe('moat queue --user', function () {
  this.timeout(60_000);
  const bed = queueBed('mm-quser-');

  /** A message `user` sends logged in on the submission listener; its queue id. */
  async function sendAs(gw: TestGateway, user: string, to: string): Promise<string> {
    const d = await loggedInSession(gw.gateway.port('submission'), user, `${user}-password`);
    try {
      assert.equal((await d.cmd(`MAIL FROM:<${user}@example.com>`)).code, 250);
      assert.equal((await d.cmd(`RCPT TO:<${to}>`)).code, 250);
      const r = await d.data(testMessage({ from: `${user}@example.com`, to }));
      assert.equal(r.code, 250, r.text);
      return /queued as (\S+)/.exec(r.text)![1];
    } finally { await d.quit(); }
  }

  it('lists, holds, releases and deletes the mail one login queued, and only that', async () => {
    const gw = await startGateway({ dataDir: bed.dataDir, config: {
      server: { submission_listen: ['127.0.0.1:0'], greeting_delay: 0 }, smarthost: `smtp://127.0.0.1:${bed.sink.port}`,
      queue: { retry_schedule: ['1h'], bounces: { send: 'off' } },
    } });
    bed.gw = gw;
    const users = new UsersFile(path.join(gw.dataDir, 'users'));
    for (const u of ['alice', 'Alice2', 'bob']) users.add(u, `${u}-password`);
    for (const r of ['a@elsewhere.example', 'b@elsewhere.example', 'c@elsewhere.example', 'user@example.com']) bed.sink.rcptReplies.set(r, 451);
    const alice = [await sendAs(gw, 'alice', 'a@elsewhere.example'), await sendAs(gw, 'alice', 'b@elsewhere.example')];
    const bob = await sendAs(gw, 'bob', 'c@elsewhere.example');
    const other = await sendAs(gw, 'Alice2', 'c@elsewhere.example');
    const anonymous = (await sendMail(gw.port, { from: 'someone@client.example', to: ['user@example.com'] })).queueId!;
    const all = [...alice, bob, other, anonymous];
    await until(() => all.every((id) => gw.logs.some((l) => l.msg === 'deferred' && l.qid === id)), 15_000, 'all deferred');

    const listed = await moat(bed.dataDir, 'list', '--user', 'alice', '--json');
    assert.deepEqual(listed.json.map((r: { id: string }) => r.id), alice, 'exactly alice: not Alice2, not mail without a login');
    assert.match((await moat(bed.dataDir, 'show', alice[0])).stdout, /user alice/);

    const held = await moat(bed.dataDir, 'hold', '--user', 'alice');
    assert.deepEqual([held.code, held.stdout, held.stderr], [0, 'held 2 messages\n', '']);
    const heldIds = (await moat(bed.dataDir, 'list', '--state', 'held', '--json')).json.map((r: { id: string }) => r.id);
    assert.deepEqual(heldIds, alice);

    // --user goes with the other selectors: alice's message to b@ only.
    const one = await moat(bed.dataDir, 'release', '--user', 'alice', '--to', 'b@elsewhere.example');
    assert.deepEqual([one.code, one.stdout], [0, 'released 1 message\n']);
    const deleted = await moat(bed.dataDir, 'delete', '--user', 'alice', '--state', 'held');
    assert.deepEqual([deleted.code, deleted.stdout], [0, 'deleted 1 message\n']);
    const left = (await moat(bed.dataDir, 'list', '--json')).json.map((r: { id: string }) => r.id).sort();
    assert.deepEqual(left, [alice[1], bob, other, anonymous].sort());

    // A --user that names no login, or one where it does not apply, is a usage error.
    for (const args of [['list', '--user', ''], ['hold', '--user', 'a b'], ['show', 'X', '--user', 'alice'], ['hold', '--all', '--user', 'alice']]) {
      const r = await moat(bed.dataDir, ...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /--user/);
    }
  });
});
