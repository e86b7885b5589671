// The admin listener answers from before the queue's recovery: a liveness probe that got no answer during a long
// recovery would have systemd or Kubernetes kill the gateway, and a load balancer must read "not ready" meanwhile.
// The recovery is made slow by a real queue: thousands of sealed messages in data_dir before the start.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createGateway, type Gateway } from '../../../core/gateway.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { loadSealKey, sealEnvelope } from '../../../core/queue/envelope-seal.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { freePort } from '../../helpers/ports.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

const QUEUED = 4000;

/** A queue as a gateway killed during an outage leaves it: sealed messages (message and envelope in one file each). */
function fillQueue(dataDir: string, count: number): void {
  const store = new QueueStore(dataDir);
  const key = loadSealKey(path.join(dataDir, 'queue.key'));
  const body = Buffer.from('Subject: queued\r\n\r\nwaiting\r\n');
  for (let i = 0; i < count; i++) {
    const e: QueueEntry = {
      id: `0${String(i).padStart(8, '0')}00cafe`, mailFrom: 'a@client.example', recipients: [{ address: `u${i}@example.com`, status: 'pending' }],
      prepend: '', remove: [], receivedAt: Date.now(), size: body.length, client: { ip: '192.0.2.1' }, authenticated: false,
      attempts: 1, nextAttemptAt: Date.now() + 3_600_000, history: [],
    };
    // Written without fsync: durability is not what is tested, and thousands of fsyncs would only slow the test.
    writeFileSync(store.emlPath(e.id), Buffer.concat([body, sealEnvelope(e, key)]));
  }
  store.close();
}

interface Seen { status: number; body: string; retryAfter: string | null; recovered: boolean }

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('admin HTTP listener during the queue\'s recovery', function () {
  this.timeout(120_000);
  let dataDir: string;
  let end = () => {};
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-http-recovery-'));
    end = holdUntilExit({ dir: dataDir });
  });
  afterEach(() => end());

  it(`answers live 200, ready 503 and metrics while ${QUEUED} queued messages are recovered; the quarantine links 503 with Retry-After until then`, async () => {
    fillQueue(dataDir, QUEUED);
    const httpPort = await freePort();
    const smtpPort = await freePort();
    const logs: LogFields[] = [];
    const config = await validateConfig({
      server: { hostname: 'mx.test.example', listen: [`127.0.0.1:${smtpPort}`] }, domains: ['example.com'], data_dir: dataDir,
      http: { listen: [`127.0.0.1:${httpPort}`] }, log: { level: 'info', format: 'json' },
    });
    const recoveredYet = () => logs.some((r) => r.msg === 'queue recovered');
    let gateway: Gateway | undefined;
    let failed: unknown;
    const starting = createGateway({ config, logSink: { write() {} }, onLog: (r) => { logs.push(r); } })
      .then((g) => { gateway = g; }, (e) => { failed = e; });

    const ask = async (p: string, method = 'GET'): Promise<Seen> => {
      const res = await fetch(`http://127.0.0.1:${httpPort}${p}`, method === 'POST'
        ? { method, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 't=x' } : {});
      return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after'), recovered: recoveredYet() };
    };
    // Rounds of every request at once, until one round was answered whole before the recovery ended.
    let during: Seen[] | undefined;
    while (!during && !gateway && !failed) {
      try {
        const round = await Promise.all([ask('/health/live'), ask('/health/ready'), ask('/metrics'), ask('/quarantine/release', 'POST'), ask('/quarantine/delete'), ask('/quarantine/mine'), ask('/quarantine/mine', 'POST')]);
        if (round.every((s) => !s.recovered)) during = round;
      } catch { await new Promise((r) => setTimeout(r, 5)); /* not listening yet */ }
    }
    await starting;
    assert.equal(failed, undefined);
    try {
      assert.ok(during, `a round of requests answered during the recovery (${QUEUED} messages)`);
      const [live, ready, metrics, post, get, mine, minePost] = during;
      assert.deepEqual([live.status, JSON.parse(live.body)], [200, { status: 'ok' }]);
      assert.deepEqual([ready.status, JSON.parse(ready.body)], [503, { status: 'unavailable', reason: 'starting: recovering the queue' }]);
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /^mailmoat_connections_open 0$/m);
      for (const q of [post, get, mine, minePost]) {
        assert.equal(q.status, 503, 'not 404: the page exists, the gateway is starting');
        assert.equal(q.retryAfter, '10');
        assert.match(q.body, /starting/);
      }
      // The HTTP listener was up before the recovery began, the SMTP listener only after it.
      const at = (pred: (r: LogFields) => boolean) => logs.findIndex(pred);
      assert.ok(at((r) => r.msg === 'listening' && r.listener === 'http') < at((r) => r.msg === 'queue recovered'));
      assert.ok(at((r) => r.msg === 'queue recovered') < at((r) => r.msg === 'listening' && r.listener === 'smtp'));
      assert.equal(logs.find((r) => r.msg === 'queue recovered')?.messages, QUEUED);

      const afterStart = await ask('/health/ready');
      assert.deepEqual([afterStart.status, JSON.parse(afterStart.body)], [200, { status: 'ok' }]);
      // Now the route itself answers: without quarantine_digest.link_base the pages are turned off.
      const link = await ask('/quarantine/release', 'POST');
      assert.equal(link.status, 404);
      assert.match(link.body, /quarantine pages are turned off/);
    } finally { await gateway?.stop(); }
    assert.equal(await refused(httpPort), true, 'closed by the stop');
  });

  it('a start whose HTTP port is taken fails before the queue is touched and lets go of the data_dir for the next start', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const smtpPort = await freePort();
    const raw = (httpListen: string) => ({
      server: { hostname: 'mx.test.example', listen: [`127.0.0.1:${smtpPort}`] }, domains: ['example.com'], data_dir: dataDir,
      http: { listen: [httpListen] }, log: { level: 'info', format: 'json' },
    });
    fillQueue(dataDir, 3);
    const logs: LogFields[] = [];
    try {
      await assert.rejects(
        createGateway({ config: await validateConfig(raw(`127.0.0.1:${takenPort}`)), logSink: { write() {} }, onLog: (r) => { logs.push(r); } }),
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${takenPort} \\(http\\): .*EADDRINUSE`),
      );
    } finally { taken.close(); }
    assert.equal(logs.some((r) => r.msg === 'queue recovered'), false, 'the queue is not recovered by a start that fails');
    assert.equal(await refused(smtpPort), true, 'no SMTP listener was opened');
    // The data_dir lock and the control socket are released: a second start on it succeeds and recovers the queue.
    const second: LogFields[] = [];
    const g = await createGateway({ config: await validateConfig(raw('127.0.0.1:0')), logSink: { write() {} }, onLog: (r) => { second.push(r); } });
    try {
      assert.equal(second.find((r) => r.msg === 'queue recovered')?.messages, 3);
      const res = await fetch(`http://127.0.0.1:${g.admin!.addresses[0].port}/health/ready`);
      assert.equal(res.status, 200);
      await res.text();
    } finally { await g.stop(); }
  });
});

