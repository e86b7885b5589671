// Taking the queue lock on a full disk fails with the disk's error and leaves no empty `queue.lock.<pid>.tmp` behind
// (the temporary file is created before its write fails). A real full file system: a small tmpfs, filled up.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tryLock } from '../../../core/control/queue-lock.ts';

describe('queue lock on a full disk', () => {
  let dir: string;
  let mounted = false;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lock-full-'));
    // The tests run as root (README); a mount that fails fails the test rather than skipping it.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    mounted = true;
    // Fill it: the write that finds no room is the one that ends the loop.
    try { for (let i = 0; ; i++) writeFileSync(path.join(dir, `fill-${i}`), Buffer.alloc(16 * 1024)); } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
  });
  after(() => {
    if (mounted) execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('throws ENOSPC and leaves neither the lock nor its temporary file', () => {
    assert.throws(() => tryLock(dir, 'gateway'), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    const left = readdirSync(dir).filter((f) => !f.startsWith('fill-'));
    assert.deepEqual(left, []);
  });

  it('takes the lock once there is room again', () => {
    rmSync(path.join(dir, 'fill-0'));
    const got = tryLock(dir, 'gateway');
    assert.equal(got.acquired, true);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('queue.lock')), ['queue.lock']);
    if (got.acquired) got.release();
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('queue.lock')), []);
  });
});
