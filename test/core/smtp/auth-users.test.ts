// The AUTH users file as the front door uses it: an unknown user costs an attacker as much as a known one, but
// neither holds the event loop (every other client waits while it is held).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UsersFile } from '../../../core/auth/users-file.ts';

describe('AUTH users file', () => {
  let dir: string;
  let users: UsersFile;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-users-'));
    users = new UsersFile(path.join(dir, 'users'));
    users.add('alice', 's3cret-pw');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('checks an unknown user without computing scrypt on the event loop', async () => {
    for (const user of ['alice', 'nobody']) {
      const started = performance.now();
      const pending = users.check(user, 'guess');
      const heldMs = performance.now() - started;
      assert.equal(await pending, false, user);
      // scrypt at N=16384 takes 30–50 ms here; what is left on the loop is reading the file.
      assert.ok(heldMs < 15, `${user}: the event loop was held ${heldMs.toFixed(1)} ms`);
    }
    assert.equal(await users.check('alice', 's3cret-pw'), true);
  });

  it('leaves the thread pool to file writes while AUTH guesses pile up', async () => {
    // scrypt and the queue's writes and fsyncs share libuv's four threads. 40 guesses at once (two connections'
    // worth from each of 20 clients) had filled them, and a file operation started after them waited until nearly
    // all were done: a message's 250 waited behind every guess in flight.
    let done = 0;
    const guesses = Array.from({ length: 40 }, (_, i) => users.check(i % 2 ? 'alice' : 'nobody', `guess-${i}`).then((ok) => { done++; return ok; }));
    await stat(dir);
    const doneBeforeFileOp = done;
    assert.deepEqual(new Set(await Promise.all(guesses)), new Set([false]));
    assert.ok(doneBeforeFileOp <= 4, `a file operation waited for ${doneBeforeFileOp} of 40 password checks`);
    assert.equal(await users.check('alice', 's3cret-pw'), true, 'the right password still passes after the queue drained');
  });
});
