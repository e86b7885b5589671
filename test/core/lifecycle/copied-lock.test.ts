// A data_dir copied from a gateway that is still running (a backup restored beside it on the same host, to look at
// it or run a second instance) holds that gateway's queue.lock: the copy's gateway starts, taking the lock over with
// a warning, instead of refusing with "another gateway is already running on this data_dir".
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, startGateway, type SpawnedGateway, type TestGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

describe('lifecycle: a data_dir copied from a running gateway', function () {
  this.timeout(60_000);
  let original: SpawnedGateway | undefined;
  let copy: TestGateway | undefined;
  after(async () => {
    await copy?.stop();
    await original?.kill();
  });

  it('starts on the copy with a warning naming the folder the lock came from, and records its own folder', async () => {
    original = await spawnGateway();
    const lock = JSON.parse(readFileSync(path.join(original.dataDir, 'queue.lock'), 'utf8')) as { pid: number; dir: string };
    assert.equal(lock.dir, realpathSync(original.dataDir));

    const parent = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-copy-'));
    const endParent = holdUntilExit({ dir: parent });
    try {
      const copied = path.join(parent, 'data');
      // As `cp -a` of the live folder: queue.lock and control.sock come along.
      execFileSync('cp', ['-a', original.dataDir, copied]);
      copy = await startGateway({ dataDir: copied });
      const warned = copy.logs.find((l) => l.msg === 'queue.lock was copied from a gateway still running on another folder: taken over; copy a data_dir only from a stopped gateway or a snapshot');
      assert.ok(warned, JSON.stringify(copy.logs.filter((l) => l.level !== 'debug'), null, 1));
      assert.equal(warned.level, 'warn');
      assert.equal(warned.holder_pid, lock.pid);
      assert.equal(warned.holder_dir, realpathSync(original.dataDir));
      const mine = JSON.parse(readFileSync(path.join(copied, 'queue.lock'), 'utf8')) as { pid: number; dir: string };
      assert.deepEqual([mine.pid, mine.dir], [process.pid, realpathSync(copied)]);
      // The original runs on, its own lock untouched.
      assert.equal(original.child.exitCode, null);
      assert.equal((JSON.parse(readFileSync(path.join(original.dataDir, 'queue.lock'), 'utf8')) as { pid: number }).pid, lock.pid);
      await copy.stop();
      copy = undefined;
    } finally {
      endParent();
    }
  });
});
