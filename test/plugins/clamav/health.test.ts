// The clamav plugin's `health`, against a real clamd: nothing while it answers, the reason and what on_error makes of
// mail while it is stopped, and no health at all for a command-line scanner (no daemon to ask).
import assert from 'node:assert/strict';
import plugin from '../../../plugins/clamav/index.ts';
import { validate } from '../../../core/config/schema.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import type { PluginInstance } from '../../../core/index.ts';
import { startClamd, type ClamdHandle } from '../../helpers/clamd.ts';

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

  it('has no health with a command-line scanner', async () => {
    const instance = await create({ scanner: 'command', command: { template: 'clamscan --no-summary {file}' } });
    assert.equal(instance.health, undefined);
  });
});
