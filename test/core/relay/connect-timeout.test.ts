// The connect's time after an upgrade: a config that set `timeout` (one time for everything before the steps had their
// own) keeps it for the connect too, unless connect_timeout is also set; with neither, 30 s. So connect_timeout has no
// default in the schema, which would make it look set. Pure logic: the stage computation and the parsed config.
import assert from 'node:assert/strict';
import { validateConfig } from '../../../core/config/load.ts';
import { routeTarget } from '../../../core/relay/make-relay.ts';
import { RouteTable, type Route } from '../../../core/relay/routes.ts';
import { STAGE_TIMEOUTS_MS, stageTimeout } from '../../../core/relay/stage-timeouts.ts';
import { smarthostTarget } from '../../../core/relay/smarthost.ts';

describe('the relay connect time', () => {
  it('is 30 s with neither key set', () => {
    assert.equal(stageTimeout({}, 'connect'), 30_000);
    assert.equal(STAGE_TIMEOUTS_MS.connect, 30_000);
  });

  it('follows an explicit timeout alone, longer or shorter than 30 s', () => {
    assert.equal(stageTimeout({ timeout: 120_000 }, 'connect'), 120_000);
    assert.equal(stageTimeout({ timeout: 5_000 }, 'connect'), 5_000);
  });

  it('is connect_timeout whenever that is set, whatever timeout says', () => {
    assert.equal(stageTimeout({ connectTimeout: 10_000 }, 'connect'), 10_000);
    assert.equal(stageTimeout({ timeout: 120_000, connectTimeout: 10_000 }, 'connect'), 10_000);
    assert.equal(stageTimeout({ timeout: 5_000, connectTimeout: 45_000 }, 'connect'), 45_000);
  });

  it('leaves the other steps to timeout, connect_timeout changing none of them', () => {
    assert.equal(stageTimeout({ timeout: 120_000, connectTimeout: 10_000 }, 'rcpt'), 120_000);
    assert.equal(stageTimeout({ connectTimeout: 10_000 }, 'rcpt'), STAGE_TIMEOUTS_MS.rcpt);
  });

  describe('from the config', () => {
    it('gives connect_timeout no default, on the smarthost or a route', async () => {
      const cfg = await validateConfig({ smarthost: { url: 'smtp://127.0.0.1:2525' }, routes: { 'a.example': { via: 'smtp://127.0.0.1:2526' } } });
      assert.equal((cfg.smarthost as { connect_timeout?: number }).connect_timeout, undefined);
      assert.equal((cfg.routes['a.example'] as { connect_timeout?: number }).connect_timeout, undefined);
      assert.equal(stageTimeout(smarthostTarget(cfg.smarthost)!, 'connect'), 30_000);
    });

    it('lets an old `timeout: 2m` govern the connect on the smarthost and on a route', async () => {
      const cfg = await validateConfig({
        smarthost: { url: 'smtp://127.0.0.1:2525', timeout: '2m' },
        routes: { 'a.example': { via: 'smtp://127.0.0.1:2526', timeout: '2m' }, 'b.example': { via: 'smtp://127.0.0.1:2527', timeout: '2m', connect_timeout: '10s' } },
      });
      assert.equal(stageTimeout(smarthostTarget(cfg.smarthost)!, 'connect'), 120_000);
      const table = new RouteTable(cfg.routes);
      const connectOf = (domain: string) => stageTimeout(routeTarget(table.lookup(domain) as Route & { via: 'smarthost' }, 10), 'connect');
      assert.equal(connectOf('a.example'), 120_000);
      assert.equal(connectOf('b.example'), 10_000);
    });

    it('keeps an explicit connect_timeout on the smarthost beside a timeout', async () => {
      const cfg = await validateConfig({ smarthost: { url: 'smtp://127.0.0.1:2525', timeout: '2m', connect_timeout: '45s' } });
      const target = smarthostTarget(cfg.smarthost)!;
      assert.equal(stageTimeout(target, 'connect'), 45_000);
      assert.equal(stageTimeout(target, 'greeting'), 120_000);
    });
  });
});
