// GET /health/ready and what the gateway depends on: a real clamd and a real Redis are stopped under a running gateway.
// A failure that makes it defer every message (clamav on_error: tempfail; a plugin with on_store_error: tempfail) reads
// 503, so a balancer sends mail elsewhere; one a plugin rides out reads 200 degraded; both read 200 ok once back. The
// plugins that read Redis answer for it; the store has a check of its own only when none of them runs.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Redis } from 'ioredis';
import { RedisStore } from '../../../core/store/redis-store.ts';
import { readinessChecks, stateStoreHealth } from '../../../core/http/readiness-checks.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startClamd, type ClamdHandle } from '../../helpers/clamd.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { TcpRelay } from '../../helpers/tcp-relay.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { cleanMessage, sendOne } from '../../plugins/clamav/fixtures.ts';

interface Check { name: string; status: string; problem?: string }
interface Ready { code: number; status: string; reason?: string; checks?: Check[] }

const adminPort = (gw: TestGateway) => gw.gateway.admin!.addresses[0].port;

async function get(gw: TestGateway, path: string): Promise<Ready> {
  const r = await fetch(`http://127.0.0.1:${adminPort(gw)}${path}`);
  return { code: r.status, ...(await r.json() as Omit<Ready, 'code'>) };
}

/** The first /health/ready answer `wanted` accepts, asked again each time the previous answer came. */
function readyWhen(gw: TestGateway, what: string, wanted: (r: Ready) => boolean): Promise<Ready> {
  let asking = false;
  let last: Ready | undefined;
  return waitFor(what, () => {
    if (last && wanted(last)) return last;
    if (!asking) {
      asking = true;
      get(gw, '/health/ready').then((r) => { last = r; }, () => undefined).finally(() => { asking = false; });
    }
    return undefined;
  }, 15_000);
}

const isOk = (r: Ready) => r.code === 200 && r.status === 'ok';

/** How many PINGs the Redis server behind `admin` has answered. */
const pings = async (admin: Redis) => Number(/cmdstat_ping:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);

describe('GET /health/ready and the dependencies of the gateway', function () {
  this.timeout(60_000);
  const gateways: TestGateway[] = [];
  const gatewayWith = async (config: Record<string, unknown>): Promise<TestGateway> => {
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] }, ...config } });
    gateways.push(gw);
    return gw;
  };
  afterEach(async () => { for (const gw of gateways.splice(0)) await gw.stop(); });

  describe('clamd', () => {
    let clamd: ClamdHandle;
    before(async () => { clamd = await startClamd(); });
    after(async () => { await clamd?.close(); });

    it('on_error tempfail: 503 while clamd is stopped (mail gets 451 meanwhile), 200 once it answers again; live stays 200', async () => {
      const gw = await gatewayWith({ plugins: [{ name: 'clamav', socket: clamd.socket }] });
      // clamav asks no DNS, so the resolver is no dependency here (health-dns.test.ts).
      assert.deepEqual(await readyWhen(gw, 'ready', isOk), { code: 200, status: 'ok', checks: [{ name: 'plugin clamav', status: 'ok' }] });

      await clamd.stop();
      const down = await readyWhen(gw, '503 with clamd stopped', (r) => r.code === 503);
      assert.equal(down.status, 'unavailable');
      assert.match(down.reason!, /^plugin clamav: clamd at unix:\S+: \w+; mail is deferred \(on_error: tempfail\)$/);
      assert.deepEqual(down.checks, [{ name: 'plugin clamav', status: 'tempfail', problem: down.reason!.slice('plugin clamav: '.length) }]);
      assert.deepEqual(await get(gw, '/health/live'), { code: 200, status: 'ok' });
      // What the 503 stands for: every message is deferred.
      assert.equal((await sendOne(gw.port, cleanMessage('while clamd is away'))).code, 451);
      assert.ok(gw.logs.some((l) => l.msg === 'readiness check failing' && l.dependency === 'plugin clamav' && l.effect === 'tempfail'));

      await clamd.start();
      await readyWhen(gw, 'ready again once clamd answers', isOk);
      assert.equal((await sendOne(gw.port, cleanMessage('clamd is back'))).code, 250);
      assert.ok(gw.logs.some((l) => l.msg === 'readiness check passing again' && l.dependency === 'plugin clamav'));
    });

    it('on_error accept: 200 degraded while clamd is stopped (mail passes unscanned), ok once it answers again', async () => {
      const gw = await gatewayWith({ plugins: [{ name: 'clamav', socket: clamd.socket, on_error: 'accept' }] });
      await readyWhen(gw, 'ready', isOk);

      await clamd.stop();
      const degraded = await readyWhen(gw, 'degraded with clamd stopped', (r) => r.status === 'degraded');
      assert.equal(degraded.code, 200);
      assert.equal(degraded.reason, undefined);
      assert.equal(degraded.checks?.length, 1);
      assert.equal(degraded.checks![0].status, 'degraded');
      assert.match(degraded.checks![0].problem!, /^clamd at unix:\S+: \w+; mail passes unscanned \(on_error: accept\)$/);
      assert.equal((await sendOne(gw.port, cleanMessage('unscanned'))).code, 250);

      await clamd.start();
      await readyWhen(gw, 'ok once clamd answers', isOk);
    });

    it('a clamd that takes connections and never answers is slow (degraded) at first, and 503 once a PING goes past scan_timeout', async () => {
      // Played by a listener that reads and never answers, put behind the relay in clamd's place.
      const held = new Set<net.Socket>();
      const silent = net.createServer((s) => { held.add(s); s.on('error', () => undefined).resume(); });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      let behind = clamd.port;
      const relay = new TcpRelay(() => behind);
      await relay.start();
      try {
        const gw = await gatewayWith({ plugins: [{ name: 'clamav', host: '127.0.0.1', port: relay.port, scan_timeout: '2s' }] });
        await readyWhen(gw, 'ready', isOk);
        behind = (silent.address() as net.AddressInfo).port;
        // Nothing tells a hung clamd from a slow one until scan_timeout, which a scan would wait too.
        const slow = await readyWhen(gw, 'degraded with clamd not answering yet', (r) => r.status === 'degraded');
        assert.match(slow.checks![0].problem!, /^clamd at 127\.0\.0\.1:\d+ is slow: no answer to PING yet after \d+ ms \(a scan waits up to scan_timeout, 2000 ms\); mail is still scanned$/);
        const hung = await readyWhen(gw, '503 with clamd hung', (r) => r.code === 503);
        assert.match(hung.reason!, /^plugin clamav: clamd at 127\.0\.0\.1:\d+: no answer to PING within scan_timeout \(2000 ms\), so scans time out too; mail is deferred \(on_error: tempfail\)$/);
        behind = clamd.port;
        await readyWhen(gw, 'ready once clamd answers again', isOk);
      } finally {
        await relay.stop();
        for (const s of held) s.destroy();
        await new Promise((r) => silent.close(r));
      }
    });
  });

  describe('the Redis state store', () => {
    let redis: RedisHandle;
    beforeEach(async () => { redis = await startRedis(); });
    afterEach(async () => { await redis?.stop(); });

    const onRedis = (plugins: Array<Record<string, unknown>>) => ({ state: { backend: 'redis', redis: { url: redis.url } }, plugins });
    const greylistOn = (onStoreError: string) => onRedis([{ name: 'greylist', on_store_error: onStoreError }]);
    const UNREACHABLE = String.raw`cannot reach the Redis state store at redis:\/\/127\.0\.0\.1:\d+: .+`;

    it('greylist answers for Redis: 503 while it is down with on_store_error tempfail, degraded with pass; ok once it is back', async () => {
      const strict = await gatewayWith(greylistOn('tempfail'));
      const lenient = await gatewayWith(greylistOn('pass'));
      // The plugin's check stands for the store: no second check under the store's own name.
      const greylistOk = [{ name: 'plugin greylist', status: 'ok' }];
      assert.deepEqual(await readyWhen(strict, 'strict ready', isOk), { code: 200, status: 'ok', checks: greylistOk });
      assert.deepEqual(await readyWhen(lenient, 'lenient ready', isOk), { code: 200, status: 'ok', checks: greylistOk });

      const port = redis.port;
      await redis.stop();
      const down = await readyWhen(strict, '503 with Redis down', (r) => r.code === 503);
      assert.match(down.reason!, new RegExp(`^plugin greylist: ${UNREACHABLE}; mail is deferred \\(on_store_error: tempfail\\)$`));
      assert.deepEqual(down.checks!.map((c) => [c.name, c.status]), [['plugin greylist', 'tempfail']]);
      const degraded = await readyWhen(lenient, 'degraded with Redis down', (r) => r.status === 'degraded');
      assert.equal(degraded.code, 200);
      assert.deepEqual(degraded.checks!.map((c) => [c.name, c.status]), [['plugin greylist', 'degraded']]);
      assert.match(degraded.checks![0].problem!, new RegExp(`^${UNREACHABLE}; recipients pass without greylisting \\(on_store_error: pass\\)$`));

      redis = await startRedis({ port });
      await readyWhen(strict, 'strict ready once Redis is back', isOk);
      await readyWhen(lenient, 'lenient ok once Redis is back', isOk);
    });

    it('user-lists answers with its own on_store_error: its tempfail is the 503 while greylist beside it is only degraded', async () => {
      const gw = await gatewayWith(onRedis([{ name: 'greylist' }, { name: 'user-lists', on_store_error: 'tempfail' }]));
      await readyWhen(gw, 'ready', isOk);
      const port = redis.port;
      await redis.stop();
      const down = await readyWhen(gw, '503 with Redis down', (r) => r.code === 503);
      assert.match(down.reason!, new RegExp(`^plugin user-lists: ${UNREACHABLE}; mail is deferred \\(on_store_error: tempfail\\)$`));
      assert.deepEqual(down.checks!.map((c) => [c.name, c.status]), [['plugin greylist', 'degraded'], ['plugin user-lists', 'tempfail']]);
      // What the 503 stands for: the recipient is deferred while the lists cannot be read.
      const d = await SmtpDialog.connect(gw.port);
      try {
        assert.equal((await d.hello()).code, 250);
        assert.equal((await d.cmd('MAIL FROM:<sender@example.org>')).code, 250);
        const rcpt = await d.cmd('RCPT TO:<rcpt@example.com>');
        assert.equal(rcpt.code, 451);
        assert.match(rcpt.text, /^4\.3\.0 /);
      } finally {
        await d.quit();
      }

      redis = await startRedis({ port });
      assert.deepEqual(await readyWhen(gw, 'ready once Redis is back', isOk), {
        code: 200, status: 'ok', checks: [{ name: 'plugin greylist', status: 'ok' }, { name: 'plugin user-lists', status: 'ok' }],
      });
    });

    it('with no plugin that answers for it, the store is checked under its own name, degraded at worst', async () => {
      const gw = await gatewayWith(onRedis([]));
      assert.deepEqual(await readyWhen(gw, 'ready', isOk), { code: 200, status: 'ok', checks: [{ name: 'state store', status: 'ok' }] });
      const port = redis.port;
      await redis.stop();
      const degraded = await readyWhen(gw, 'degraded with Redis down', (r) => r.status === 'degraded');
      assert.equal(degraded.code, 200);
      assert.deepEqual(degraded.checks!.map((c) => c.name), ['state store']);
      assert.match(degraded.checks![0].problem!, new RegExp(`^${UNREACHABLE}; checks that use it do without$`));
      redis = await startRedis({ port });
      await readyWhen(gw, 'ok once Redis is back', isOk);
    });

    it('the plugins asking in one round share one PING', async () => {
      const store = await RedisStore.connect(redis.url);
      const admin = new Redis(redis.url);
      try {
        const reader = (name: string) => ({ name, moduleName: name, timeout: 1000, instance: { hooks: {}, health: stateStoreHealth(store, 'degraded', 'test') } });
        const checks = await readinessChecks({ plugins: () => [reader('one'), reader('two')], store });
        assert.deepEqual(checks.map((c) => c.name), ['plugin one', 'plugin two']);
        const before = await pings(admin);
        assert.deepEqual(await Promise.all(checks.map((c) => c.run(1000))), [undefined, undefined]);
        assert.equal(await pings(admin) - before, 1);
      } finally {
        admin.disconnect();
        await store.close();
      }
    });

    it('a burst of probes reaches Redis with one PING, not one each, however many plugins ask', async () => {
      const gw = await gatewayWith(onRedis([{ name: 'greylist', on_store_error: 'tempfail' }, { name: 'user-lists' }]));
      const ready = await readyWhen(gw, 'ready', isOk);
      assert.equal(ready.checks?.length, 2);
      const admin = new Redis(redis.url);
      try {
        const before = await pings(admin);
        const answers = await Promise.all(Array.from({ length: 40 }, () => get(gw, '/health/ready')));
        assert.ok(answers.every(isOk));
        // One round for the whole burst, its two plugins sharing one PING; a second only if the results had just gone stale.
        const sent = await pings(admin) - before;
        assert.ok(sent <= 2, `${sent} PINGs for 40 probes`);
      } finally {
        admin.disconnect();
      }
    });
  });
});
