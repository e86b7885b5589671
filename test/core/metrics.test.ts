// Admin view of a running gateway: `moat metrics` over the control socket; a second gateway on the same data_dir refuses to start.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { spawnGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';
import { percentile } from '../../core/metrics.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

describe('percentile', () => {
  it('is the nearest rank: the smallest value with at least that share at or below it', () => {
    const hundred = Array.from({ length: 100 }, (_v, i) => i + 1);
    assert.deepEqual([percentile(hundred, 0.5), percentile(hundred, 0.99), percentile(hundred, 1), percentile(hundred, 0)], [50, 99, 100, 1]);
    assert.deepEqual([percentile([7], 0.99), percentile([1, 2, 3], 0.5)], [7, 2]);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });
});

describe('moat metrics and one gateway per data_dir', function () {
  this.timeout(60_000);
  it('reports counters of the running gateway, and refuses a second gateway on its data_dir', async () => {
    const gw = await spawnGateway();
    try {
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      await c.cmd('MAIL FROM:<a@client.example>');
      await c.cmd('RCPT TO:<user@example.com>');
      assert.equal((await c.data(testMessage())).code, 250);
      await c.quit();
      const { stdout } = await run(process.execPath, [MOAT, 'metrics', '--config', gw.configFile, '--json']);
      const m = JSON.parse(stdout) as Record<string, number>;
      assert.equal(m.messages_accept, 1);
      assert.ok(m.connections >= 1);
      // Delivered to files at once: nothing left in the journal or the schedule.
      assert.equal(m.queue_journaled, 0);
      assert.equal(m.queue_scheduled, 0);
      const prom = await run(process.execPath, [MOAT, 'metrics', '--config', gw.configFile, '--prometheus']);
      assert.match(prom.stdout, /^mailmoat_messages_accept 1$/m);
      await assert.rejects(spawnGateway({ dataDir: gw.dataDir, port: await freePort() }), /another gateway is already running on this data_dir/);
    } finally { await gw.kill(); }
  });
});
