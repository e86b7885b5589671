// Two gateways on one real Redis: what one learns from its honeypot, the other scores with.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { message, trainedFilter } from './fixtures.ts';

describe('bayes counts shared through Redis', function () {
  this.timeout(30_000);
  let dir: string;
  let redis: RedisHandle;
  let smarthost: Smarthost;
  const gws: TestGateway[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-shared-'));
    const filter = trainedFilter();
    redis = await startRedis();
    smarthost = await startSmarthost();
    for (const name of ['a', 'b']) {
      const dict = path.join(dir, `${name}.tab`);
      await saveDictionary(dict, filter.dict);
      gws.push(await startGateway({
        config: {
          smarthost: `smtp://127.0.0.1:${smarthost.port}`,
          state: { backend: 'redis', redis: { url: redis.url, prefix: 'bayes-test:' } },
          plugins: [{ name: 'bayes', dictionary: dict, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], sync_interval: '100ms', flush_interval: '100ms' }],
        },
      }));
    }
  });
  after(async () => {
    for (const g of gws) await g.stop();
    await smarthost?.stop();
    await redis?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function send(gw: TestGateway, raw: string, rcpt: string): Promise<string> {
    const marker = /^Subject: (\S+)/m.exec(raw)![1];
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<x@sender.test>')).code, 250);
      assert.equal((await c.cmd(`RCPT TO:<${rcpt}>`)).code, 250);
      assert.equal((await c.data(raw)).code, 250);
    } finally {
      await c.quit();
    }
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const hit = smarthost.messages.find((m) => m.raw.toString('latin1').includes(marker));
      if (hit) return hit.raw.toString('latin1');
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${marker} was not relayed`);
  }

  const probability = (raw: string) => Number(/^X-Mailmoat-Bayes: (\S+)/m.exec(raw)?.[1]);
  const novel = (subject: string) => `Subject: ${subject}\r\nFrom: x@novel.test\r\n\r\nxylophone zeppelin quasar nebula xylophone\r\n`;

  it('gateway b scores with tokens that gateway a learned from its honeypot', async () => {
    const [a, b] = gws;
    assert.equal(probability(await send(b, novel('shared-before'), 'bob@example.com')), 0.5, 'unknown tokens: no opinion');
    assert.match(await send(a, novel('shared-learn'), 'trap@example.com'), /BAYES_LEARNED\(0\)/);
    let p = 0.5;
    const end = Date.now() + 10_000;
    for (let i = 0; p <= 0.9 && Date.now() < end; i++) {
      await new Promise((r) => setTimeout(r, 150));
      p = probability(await send(b, novel(`shared-after-${i}`), 'bob@example.com'));
    }
    assert.ok(p > 0.9, `b learned from a (p=${p})`);
    // Shared learning lives in the store; the dictionary files stay as trained.
    assert.equal((await loadDictionary(path.join(dir, 'a.tab'))).nspam, 30);
  });
});
