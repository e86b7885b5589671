// The test harness's own promise: what a helper starts does not outlive the test process, even unstopped.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const redisDirs = () => new Set(readdirSync(os.tmpdir()).filter((d) => d.startsWith('mailmoat-redis-')));

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
    const before = redisDirs();
    // As a `before` hook that timed out would leave it: started, no handle left to stop it, the process exiting.
    const helper = path.join(import.meta.dirname, 'redis.ts');
    const out = execFileSync(process.execPath, ['--input-type=module', '-e',
      `import { startRedis } from ${JSON.stringify(helper)}; const r = await startRedis(); console.log(r.port); process.exit(0);`], { encoding: 'utf8' });
    const port = Number(out.trim());
    assert.ok(port > 0, out);
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = await refuses(port);
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, `redis on port ${port} still answers`);
    assert.deepEqual([...redisDirs()].filter((d) => !before.has(d)), []);
  });
});
