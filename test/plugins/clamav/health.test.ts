// The clamav plugin's `health`, against a real clamd: nothing while it answers, the reason and what on_error makes of
// mail while it is stopped, `degraded` while it answers slowly (a delaying proxy), `tempfail` once a hung clamd
// (SIGSTOP) lets a PING go past scan_timeout, and no health at all for a command-line scanner (no daemon to ask).
import assert from 'node:assert/strict';
import plugin from '../../../plugins/clamav/index.ts';
import { validate } from '../../../core/config/schema.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { PluginInstance } from '../../../core/index.ts';
import { startClamd, startSlowProxy, type ClamdHandle } from '../../helpers/clamd.ts';
import { waitFor } from '../../helpers/wait-for.ts';

describe('clamav health', function () {
  this.timeout(60_000);
  let clamd: ClamdHandle;
  before(async () => { clamd = await startClamd(); });
  after(async () => { await clamd?.close(); });

  // The start-up PING's warning (clamd away) is no concern here.
  const log = new JsonLogger({ level: 'error', sink: { write() {} } });
  const create = (options: Record<string, unknown>): Promise<PluginInstance> => {
    const { value, issues } = validate(plugin.configSchema, options);
    assert.deepEqual(issues, []);
    return Promise.resolve(plugin.create(value, { log, services: undefined as never, projectDir: process.cwd(), configDir: process.cwd() }));
  };

  it('says nothing while clamd answers, over the unix socket and over TCP', async () => {
    for (const options of [{ socket: clamd.socket }, { host: clamd.host, port: clamd.port }]) {
      const instance = await create(options);
      assert.equal(await instance.health!(1000), undefined);
    }
  });

  it('while clamd is stopped: the reason, with tempfail or degraded as on_error says', async () => {
    const tempfail = await create({ socket: clamd.socket });
    const accept = await create({ host: clamd.host, port: clamd.port, on_error: 'accept' });
    await clamd.stop();
    try {
      const deferred = await tempfail.health!(1000);
      assert.equal(deferred?.effect, 'tempfail');
      assert.match(deferred!.problem, /^clamd at unix:\S+clamd\.sock: (ENOENT|ECONNREFUSED); mail is deferred \(on_error: tempfail\)$/);
      const unscanned = await accept.health!(1000);
      assert.deepEqual(unscanned, { problem: `clamd at 127.0.0.1:${clamd.port}: ECONNREFUSED; mail passes unscanned (on_error: accept)`, effect: 'degraded' });
    } finally {
      await clamd.start();
    }
    assert.equal(await tempfail.health!(1000), undefined);
  });

  it('reads a slow clamd as degraded, not failing: a scan still gets its verdict within scan_timeout', async () => {
    const proxy = await startSlowProxy({ host: clamd.host, port: clamd.port }, 1500);
    const instance = await create({ host: '127.0.0.1', port: proxy.port });
    try {
      const waiting = await instance.health!(300);
      assert.equal(waiting?.effect, 'degraded');
      assert.match(waiting!.problem, /^clamd at 127\.0\.0\.1:\d+ is slow: no answer to PING yet after \d+ ms \(a scan waits up to scan_timeout, 20000 ms\); mail is still scanned$/);
      // The PING under way is kept for the next round, not asked again, and its time is said once it answers.
      const answered = await waitFor('the slow PING answered', async () => {
        const h = await instance.health!(300);
        return /PING answered/.test(h?.problem ?? '') ? h : undefined;
      });
      assert.equal(answered?.effect, 'degraded');
      assert.match(answered!.problem, /^clamd at 127\.0\.0\.1:\d+ is slow: PING answered in \d+ ms \(a scan waits up to scan_timeout, 20000 ms\); mail is still scanned$/);
      assert.equal(await instance.health!(5000), undefined, 'within the round\'s own time, a PONG is no problem');
    } finally {
      await instance.close?.();
      await proxy.stop();
    }
  });

  it('reads a hung clamd (SIGSTOP) as failing once a PING goes past scan_timeout, and until one is answered', async () => {
    const tempfail = await create({ socket: clamd.socket, scan_timeout: '1s' });
    const accept = await create({ socket: clamd.socket, scan_timeout: '1s', on_error: 'accept' });
    clamd.pause();
    try {
      assert.equal((await tempfail.health!(200))?.effect, 'degraded', 'only slow, as far as anyone can tell yet');
      const failed = await waitFor('the PING past scan_timeout', async () => {
        const h = await tempfail.health!(200);
        return h?.effect === 'tempfail' ? h : undefined;
      });
      assert.match(failed.problem, /^clamd at unix:\S+: no answer to PING within scan_timeout \(1000 ms\), so scans time out too; mail is deferred \(on_error: tempfail\)$/);
      // Asked again, the new PING is not answered yet either: still failing, not back to `slow`.
      const again = await tempfail.health!(200);
      assert.equal(again?.effect, 'tempfail');
      assert.match(again!.problem, /scans time out too; asked again, no answer yet after \d+ ms; mail is deferred \(on_error: tempfail\)$/);
      const unscanned = await waitFor('the PING past scan_timeout (on_error: accept)', async () => {
        const h = await accept.health!(200);
        return /scan_timeout \(1000 ms\), so/.test(h?.problem ?? '') ? h : undefined;
      });
      assert.equal(unscanned.effect, 'degraded');
      assert.match(unscanned.problem, /; mail passes unscanned \(on_error: accept\)$/);
    } finally {
      clamd.resume();
    }
    await waitFor('clamd answering again', async () => (await tempfail.health!(1000)) === undefined || undefined);
    await tempfail.close?.();
    await accept.close?.();
  });

  it('has no health with a command-line scanner', async () => {
    const instance = await create({ scanner: 'command', command: { template: 'clamscan --no-summary {file}' } });
    assert.equal(instance.health, undefined);
  });
});
