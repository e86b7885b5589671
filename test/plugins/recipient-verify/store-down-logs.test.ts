// With its Redis state store down, at start or while running, the plugin still verifies by probing, and says so at
// warn level on lines that name the transaction (cid, qid), as the store's own outage line is a warning.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { startNextHop, type NextHop } from './next-hop.ts';
import { rcpt, logged } from './session.ts';

const READ = 'recipient-verify cannot read its cache; verifying without it, by a probe';
const STORE = 'recipient-verify cannot store a result; it works without its cache, the address is probed again next time';

/** The plugin's lines about `to`, which must be warnings of the transaction that asked. */
async function storeLines(logs: LogFields[], to: string): Promise<LogFields[]> {
  const read = await logged(logs, (l) => l.msg === READ && String(l.to) === to, `cache read failure for ${to}`);
  const store = await logged(logs, (l) => l.msg === STORE && String(l.to) === to, `cache write failure for ${to}`);
  for (const l of [read, store]) {
    assert.equal(l.level, 'warn', `${l.msg}: ${l.level}`);
    assert.equal(l.plugin, 'recipient-verify');
    assert.match(String(l.cid), /\S/, `${l.msg} names the connection`);
    assert.match(String(l.qid), /\S/, `${l.msg} names the transaction`);
    assert.match(String(l.error), /Redis state store/);
  }
  assert.equal(read.cid, store.cid, 'both lines belong to the RCPT\'s connection');
  assert.equal(read.qid, store.qid);
  return [read, store];
}

function pluginErrors(logs: LogFields[]): LogFields[] {
  return logs.filter((l) => l.plugin === 'recipient-verify' && l.level === 'error');
}

describe('plugins/recipient-verify: log lines while the Redis state store is down', function () {
  this.timeout(30_000);
  let hop: NextHop;
  const gateways: TestGateway[] = [];
  const redises: RedisHandle[] = [];
  before(async () => { hop = await startNextHop(); });
  after(async () => {
    for (const g of gateways) await g.stop();
    for (const r of redises) await r.stop();
    await hop?.stop();
  });

  async function gatewayOn(url: string): Promise<TestGateway> {
    const g = await startGateway({
      config: {
        state: { backend: 'redis', redis: { url, prefix: `rv-down-${gateways.length}:` } },
        plugins: [{ name: 'recipient-verify', target: `smtp://127.0.0.1:${hop.probePort}` }],
      },
    });
    gateways.push(g);
    return g;
  }

  it('Redis unreachable from the start: recipients are still verified, and each failure is a warning of its transaction', async () => {
    const redis = await startRedis();
    redises.push(redis);
    await redis.stop();
    const gw = await gatewayOn(redis.url);
    hop.refuse.set('gone@example.com', 550);
    assert.equal((await rcpt(gw.port, 'here@example.com')).code, 250);
    assert.equal((await rcpt(gw.port, 'gone@example.com')).code, 550, 'the probe still refuses what the server behind refuses');
    await storeLines(gw.logs, 'here@example.com');
    await storeLines(gw.logs, 'gone@example.com');
    assert.deepEqual(pluginErrors(gw.logs), []);
  });

  it('Redis lost while running: the same warnings, and the probe answers', async () => {
    const redis = await startRedis();
    redises.push(redis);
    const gw = await gatewayOn(redis.url);
    assert.equal((await rcpt(gw.port, 'first@example.com')).code, 250);
    assert.equal(gw.logs.filter((l) => l.msg === READ || l.msg === STORE).length, 0, 'nothing to say while Redis answers');
    await redis.stop();
    const probes = hop.probeRcpts().length;
    assert.equal((await rcpt(gw.port, 'second@example.com')).code, 250);
    assert.equal(hop.probeRcpts().length, probes + 1, 'verified by a probe');
    await storeLines(gw.logs, 'second@example.com');
    assert.deepEqual(pluginErrors(gw.logs), []);
  });
});
