// The test harness's own promise: what a helper starts does not outlive the test process, even unstopped.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

describe('test helpers: leftovers', () => {
  it('a Redis started and never stopped is killed, and its dir removed, when the process exits', async function () {
    this.timeout(30_000);
    // As a `before` hook that timed out would leave it: started, no handle left to stop it, the process exiting.
    const helper = path.join(import.meta.dirname, 'redis.ts');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      `import { startRedis } from ${JSON.stringify(helper)}; const r = await startRedis(); console.log(r.port, r.dir); process.exit(0);`], { encoding: 'utf8' });
    // Its own dir only: test files running in parallel start Redis servers of their own meanwhile.
    const [portText, dir] = out.trim().split(' ');
    const port = Number(portText);
    assert.ok(port > 0, out);
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = await refuses(port);
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, `redis on port ${port} still answers`);
    assert.ok(dir.startsWith(os.tmpdir()), out);
    assert.equal(existsSync(dir), false, `${dir} was left behind`);
  });
});
