// Two gateways on one Redis state store: what one learnt from the server behind, the other answers without a probe.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { startNextHop, type NextHop } from './next-hop.ts';
import { rcpt, logged } from './session.ts';

describe('plugins/recipient-verify: a cache shared through Redis', function () {
  this.timeout(20_000);
  let redis: RedisHandle;
  let hop: NextHop;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    [redis, hop] = await Promise.all([startRedis(), startNextHop()]);
    const config = {
      state: { backend: 'redis', redis: { url: redis.url, prefix: 'rcptverify-test:' } },
      plugins: [{ name: 'recipient-verify', target: `smtp://127.0.0.1:${hop.probePort}` }],
    };
    a = await startGateway({ config });
    b = await startGateway({ config });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await hop?.stop();
    await redis?.stop();
  });

  it('a refusal probed by one gateway is answered by the other from the cache', async () => {
    hop.refuse.set('nobody@example.com', 550);
    assert.equal((await rcpt(a.port, 'nobody@example.com')).code, 550);
    const atB = await rcpt(b.port, 'nobody@example.com');
    assert.equal(atB.code, 550);
    assert.match(atB.text, /no such user here/, 'the next hop\'s words, as stored by the first gateway');
    assert.equal(hop.probeRcpts().length, 1, 'one probe for both gateways');
    await logged(b.logs, (l) => l.msg === 'recipient refused by the server behind' && l.source === 'cache', 'B answered from the cache');
  });

  it('an accepted address probed by one gateway passes at the other without a probe', async () => {
    assert.equal((await rcpt(b.port, 'alice@example.com')).code, 250);
    assert.equal((await rcpt(a.port, 'alice@example.com')).code, 250);
    assert.equal(hop.probeRcpts().filter((l) => l.includes('alice@')).length, 1);
  });
});
