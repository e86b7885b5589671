// GET /health/ready of a gateway whose clamd is only slow (3 s per reply through a delaying proxy) while each message
// still gets its 250: 200 `degraded`, not 503, since a busy clamd shared by several gateways would otherwise take them
// all out of the balancer's pool. Once nothing answers at the proxy's address any more, 503: every message gets 451.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startClamd, startSlowProxy, type ClamdHandle, type SlowProxy } from '../../helpers/clamd.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { cleanMessage, sendOne } from './fixtures.ts';

interface Check { name: string; status: string; problem?: string }
interface Ready { code: number; status: string; reason?: string; checks?: Check[] }

async function ready(gw: TestGateway): Promise<Ready> {
  const r = await fetch(`http://127.0.0.1:${gw.gateway.admin!.addresses[0].port}/health/ready`);
  return { code: r.status, ...(await r.json() as Omit<Ready, 'code'>) };
}

describe('clamav and GET /health/ready: a slow clamd', function () {
  this.timeout(60_000);
  let clamd: ClamdHandle;
  let proxy: SlowProxy | undefined;
  let gw: TestGateway | undefined;

  before(async () => { clamd = await startClamd(); });
  after(async () => {
    await gw?.stop();
    await proxy?.stop();
    await clamd?.close();
  });

  it('reads 200 degraded, with the time, while clamd answers in 3 s and mail gets 250; 503 once it does not answer', async () => {
    proxy = await startSlowProxy({ host: clamd.host, port: clamd.port }, 3000);
    gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] }, plugins: [{ name: 'clamav', host: '127.0.0.1', port: proxy.port }] } });
    const first = await ready(gw);
    assert.equal(first.code, 200, JSON.stringify(first));
    assert.equal(first.status, 'degraded');
    assert.equal(first.checks?.[0].name, 'plugin clamav');
    assert.equal(first.checks?.[0].status, 'degraded');
    assert.match(first.checks![0].problem!, /^clamd at 127\.0\.0\.1:\d+ is slow: no answer to PING yet after \d+ ms \(a scan waits up to scan_timeout, 20000 ms\); mail is still scanned$/);

    assert.equal((await sendOne(gw.port, cleanMessage('slow-clamd'))).code, 250, 'scanned, late');

    const timed = await waitFor('a round that measured the PING', async () => {
      const r = await ready(gw!);
      return /PING answered in/.test(r.checks?.[0].problem ?? '') ? r : undefined;
    }, 20_000);
    assert.equal(timed.code, 200);
    assert.equal(timed.status, 'degraded');
    assert.match(timed.checks![0].problem!, /^clamd at 127\.0\.0\.1:\d+ is slow: PING answered in \d+ ms /);

    await proxy.stop();
    proxy = undefined;
    const down = await waitFor('503 once nothing answers', async () => {
      const r = await ready(gw!);
      return r.code === 503 ? r : undefined;
    }, 20_000);
    assert.equal(down.status, 'unavailable');
    assert.match(down.reason!, /^plugin clamav: clamd at 127\.0\.0\.1:\d+: .*; mail is deferred \(on_error: tempfail\)$/);
    assert.equal((await sendOne(gw.port, cleanMessage('no-clamd'))).code, 451);
  });
});
