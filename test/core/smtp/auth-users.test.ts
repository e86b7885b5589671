// The AUTH users file as the front door uses it: an unknown user costs an attacker as much as a known one, but
// neither holds the event loop (every other client waits while it is held).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
});
