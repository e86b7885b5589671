// Admin view of a running gateway: `moat metrics` over the control socket; a second gateway on the same data_dir refuses to start.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { spawnGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';
import { Metrics, percentile, prometheusText } from '../../core/metrics.ts';

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

describe('Prometheus exposition', () => {
  it('types every family: counters end in _total, gauges stay gauges, verdicts and DNS errors are labels', () => {
    const m = new Metrics();
    m.inc('connections', 3); m.inc('messages_accept', 2); m.inc('messages_reject');
    const text = prometheusText({ ...m.snapshot(), connections_open: 1, queue_scheduled: 4, dns: { cache_hits: 5, errors: { SERVFAIL: 2 }, query_duration_seconds: { p50: 0.001, p99: 0.0015, sum: 0.25, count: 100 } } });
    assert.match(text, /^# HELP mailmoat_connections_total .+\n# TYPE mailmoat_connections_total counter\nmailmoat_connections_total 3$/m);
    assert.match(text, /^# TYPE mailmoat_messages_total counter\nmailmoat_messages_total\{verdict="accept"\} 2$/m);
    assert.match(text, /^mailmoat_messages_total\{verdict="reject"\} 1$/m);
    assert.match(text, /^mailmoat_messages_total\{verdict="quarantine"\} 0$/m, 'every verdict from the start');
    assert.match(text, /^# TYPE mailmoat_queue_scheduled gauge\nmailmoat_queue_scheduled 4$/m);
    assert.match(text, /^# TYPE mailmoat_dns_cache_hits_total counter\nmailmoat_dns_cache_hits_total 5$/m);
    assert.match(text, /^mailmoat_dns_errors_total\{error="SERVFAIL"\} 2$/m);
    assert.match(text, /^# TYPE mailmoat_dns_query_duration_seconds summary\nmailmoat_dns_query_duration_seconds\{quantile="0.5"\} 0.001\nmailmoat_dns_query_duration_seconds\{quantile="0.99"\} 0.0015\nmailmoat_dns_query_duration_seconds_sum 0.25\nmailmoat_dns_query_duration_seconds_count 100$/m);
    assert.equal(text.match(/^# TYPE mailmoat_messages_total /gm)?.length, 1, 'one TYPE line per family');
  });

  it('gives DATA time as a histogram in seconds with cumulative buckets, kept over the whole run', () => {
    const m = new Metrics();
    for (let i = 0; i < 10_050; i++) m.observeDataMs(i < 50 ? 20_000 : 3);
    const text = m.prometheus();
    assert.match(text, /^# TYPE mailmoat_data_duration_seconds histogram$/m);
    const buckets = [...text.matchAll(/^mailmoat_data_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)].map((x) => [x[1], Number(x[2])] as const);
    assert.deepEqual(buckets[0], ['0.005', 10_000]);
    assert.deepEqual(buckets.find(([le]) => le === '30'), ['30', 10_050]);
    assert.deepEqual(buckets.at(-1), ['+Inf', 10_050], 'the samples beyond the percentile window still count');
    assert.ok(buckets.every(([, n], i) => i === 0 || n >= buckets[i - 1][1]));
    assert.match(text, /^mailmoat_data_duration_seconds_sum 1030$/m);
    assert.match(text, /^mailmoat_data_duration_seconds_count 10050$/m);
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
      assert.match(prom.stdout, /^mailmoat_messages_total\{verdict="accept"\} 1$/m);
      await assert.rejects(spawnGateway({ dataDir: gw.dataDir, port: await freePort() }), /another gateway is already running on this data_dir/);
    } finally { await gw.kill(); }
  });
});
