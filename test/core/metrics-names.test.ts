// An SRE scrapes a running `moat start`: names follow Prometheus conventions (base units, no `_count` gauge, snake_case
// in `moat metrics`), the gateway's own counters exist at 0 from the start (so increase() sees the first event), and
// recipients a plugin refuses (greylisting's 451) count as refused.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';
import { GATEWAY_COUNTERS, LABELED_COUNTERS } from '../../core/metrics.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');
const GREYLIST_DELAY_MS = 300;

interface Scrape { types: Map<string, string>; samples: Map<string, number> }

/** The families' TYPEs and every sample by its name with labels, from the real text. */
function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) { types.set(type[1], type[2]); continue; }
    if (line.startsWith('#')) continue;
    const sample = /^(\S+) (\S+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    samples.set(sample[1], Number(sample[2]));
  }
  return { types, samples };
}

async function rcpts(port: number, to: string[], data = false): Promise<number[]> {
  const c = await SmtpDialog.connect(port);
  try {
    await c.hello();
    assert.equal((await c.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    const codes: number[] = [];
    for (const t of to) codes.push((await c.cmd(`RCPT TO:<${t}>`)).code);
    if (data) assert.equal((await c.data(testMessage({ to: to[0] }))).code, 250);
    return codes;
  } finally { await c.quit(); }
}

describe('metrics: Prometheus names, counters from the start, refusals by plugins', function () {
  this.timeout(60_000);
  let gw: SpawnedGateway;
  let httpPort: number;
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  };
  before(async () => {
    httpPort = await freePort();
    gw = await spawnGateway({
      config: {
        http: { listen: [`127.0.0.1:${httpPort}`] },
        plugins: [{ name: 'greylist', delay: `${GREYLIST_DELAY_MS}ms`, retry_window: '30s' }],
      },
    });
  });
  after(async () => { await gw?.kill(); });

  it('exports the gateway\'s own counters at 0 before anything happened, in base units and with no _count gauge', async () => {
    const text = await scrape();
    const { types, samples } = parse(text);
    for (const name of GATEWAY_COUNTERS) {
      const verdict = /^messages_(.+)$/.exec(name);
      const labeled = (LABELED_COUNTERS as Record<string, { label: string; values: readonly string[] }>)[name];
      const series = verdict ? [`mailmoat_messages_total{verdict="${verdict[1]}"}`]
        : labeled ? labeled.values.map((v) => `mailmoat_${name}_total{${labeled.label}="${v}"}`) : [`mailmoat_${name}_total`];
      for (const one of series) assert.equal(samples.get(one), 0, `${one} is there at 0`);
    }
    for (const code of ['SERVFAIL', 'TIMEOUT', 'REFUSED']) assert.equal(samples.get(`mailmoat_dns_errors_total{error="${code}"}`), 0);
    for (const kind of ['NOERROR', 'NXDOMAIN']) assert.equal(samples.get(`mailmoat_dns_answers_total{answer="${kind}"}`), 0);
    assert.equal(types.get('mailmoat_data_duration_seconds'), 'histogram');
    assert.equal(samples.get('mailmoat_data_duration_seconds_bucket{le="+Inf"}'), 0);
    assert.equal(types.get('mailmoat_dns_query_duration_seconds'), 'summary');
    assert.equal(samples.get('mailmoat_dns_query_duration_seconds_count'), 0);
    for (const [family, type] of types) {
      assert.doesNotMatch(family, /_ms$|_ms_|millis/, `${family}: seconds, not milliseconds`);
      if (type === 'gauge') assert.doesNotMatch(family, /_(count|sum|bucket|total)$/, `${family}: a gauge with a reserved suffix`);
      // The gateway's own families, and the process and Node ones under the names every exporter uses (prom-client's).
      assert.match(family, /^(mailmoat|process|nodejs)_[a-z0-9_]+$/);
    }
  });

  it('counts two greylist 451s at RCPT as refused recipients, and DATA time in seconds', async () => {
    const before = parse(await scrape()).samples;
    assert.deepEqual(await rcpts(gw.port, ['one@example.com', 'two@example.com']), [451, 451]);
    await new Promise((r) => setTimeout(r, GREYLIST_DELAY_MS + 200));
    assert.deepEqual(await rcpts(gw.port, ['one@example.com'], true), [250]);
    const { types, samples } = parse(await scrape());
    const refused = 'mailmoat_recipients_refused_total{reason="plugin"}';
    assert.equal(samples.get(refused)! - before.get(refused)!, 2);
    assert.equal(samples.get('mailmoat_refusals_total{stage="rcpt_to",plugin="greylist",class="temporary"}'), 2);
    assert.equal(samples.get('mailmoat_messages_total{verdict="accept"}'), 1);
    assert.equal(samples.get('mailmoat_data_duration_seconds_count'), 1);
    const median = samples.get('mailmoat_data_duration_window_seconds{quantile="0.5"}');
    assert.equal(types.get('mailmoat_data_duration_window_seconds'), 'summary');
    assert.equal(samples.get('mailmoat_data_duration_window_seconds_count'), 1);
    assert.ok(median !== undefined && median > 0 && median < 5, `a DATA time in seconds: ${median}`);
    assert.equal(samples.get('mailmoat_data_duration_seconds_sum'), median, 'one message: its time is the sum');
  });

  it('names everything in snake_case in moat metrics and its --json', async () => {
    const { stdout: json } = await run(process.execPath, [MOAT, 'metrics', '--config', gw.configFile, '--json']);
    const keys: string[] = [];
    const walk = (prefix: string, v: unknown) => {
      if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { keys.push(`${prefix}${k}`); walk(`${prefix}${k}.`, x); }
    };
    const m = JSON.parse(json) as Record<string, unknown>;
    walk('', m);
    assert.ok(keys.includes('dns.cache_hits') && keys.includes('dns.cache_size') && keys.includes('dns.query_duration_seconds.sum'), keys.join(' '));
    assert.ok(keys.includes('data_duration_seconds.buckets.0.005'));
    // Upper case is only a symbol or an error code (findings_GREYLIST_…, dns.errors.SERVFAIL), never camelCase.
    assert.deepEqual(keys.filter((k) => /[a-z][A-Z]|Ms$|_ms$|_ms\./.test(k)), []);
    const { stdout: text } = await run(process.execPath, [MOAT, 'metrics', '--config', gw.configFile]);
    const names = text.trimEnd().split('\n').map((l) => l.split(/\s+/)[0]);
    assert.ok(names.includes('dns_cache_hits') && names.includes('data_duration_window_seconds_p50'), names.join(' '));
    assert.deepEqual(names.filter((k) => /[a-z][A-Z]|_ms(_|$)/.test(k)), []);
  });
});
