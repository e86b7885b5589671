// What an SRE alerts on when delivery goes wrong, scraped over HTTP from a real gateway relaying to a real smarthost
// that answers some recipients 450 and others 550: deferrals by what kept the mail (a 4xx reply, no connection, no
// TLS), dead-lettered messages by why (refused for good, or their lifetime ran out), relayed messages apart from the
// gateway's own notices. The scrape passes `promtool check metrics`; `moat metrics --json` lists buckets in order.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../helpers/smarthost.ts';
import { freePort } from '../helpers/ports.ts';
import { ensureCommands } from '../helpers/system-packages.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { sendMail } from './queue/send.ts';
import { scrapeMetrics as scrape } from './metrics-scrape.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

/** `promtool check metrics` of a scrape: its exit code and what it said. */
function promtool(text: string): Promise<{ code: number; said: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, said: `${stdout}${stderr}` });
    });
    child.stdin!.end(text);
  });
}

describe('metrics of delivery, by reason', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let gw: TestGateway;
  before(async () => {
    ensureCommands({ promtool: 'prometheus' });
    const closed = await freePort();
    sink = await startSmarthost();
    const url = `smtp://127.0.0.1:${sink.port}`;
    gw = await startGateway({
      config: {
        smarthost: url,
        http: { listen: ['127.0.0.1:0'] },
        domains: ['example.com', 'down.example', 'tls.example'],
        // Nothing listens on `closed`; the smarthost offers no STARTTLS, which the tls.example route requires.
        routes: { 'down.example': `smtp://127.0.0.1:${closed}`, 'tls.example': { via: url, starttls: 'required' } },
        queue: { retry_schedule: ['300ms'], lifetime: '3s' },
      },
    });
    sink.rcptReplies.set('later@example.com', 450);
    sink.rcptReplies.set('gone@example.com', 550);
  });
  after(async () => {
    await gw?.stop();
    await sink?.stop();
  });

  it('counts deferrals by reason, dead-lettered messages by reason, and relayed mail apart from notices', async () => {
    const at0 = (await scrape(gw)).samples;
    for (const reason of ['reply_4xx', 'connect', 'tls', 'timeout', 'dns', 'other']) assert.equal(at0.get(`mailmoat_deferred_total{reason="${reason}"}`), 0);
    for (const reason of ['rejected', 'expired']) assert.equal(at0.get(`mailmoat_deadlettered_total{reason="${reason}"}`), 0);
    for (const to of ['ok@example.com', 'gone@example.com', 'later@example.com', 'someone@down.example', 'someone@tls.example']) {
      assert.equal((await sendMail(gw.port, { from: 'sender@client.example', to: [to], subject: to })).code, 250);
    }
    // Each refused for good or past its lifetime, a failure notice to the sender, which the smarthost takes.
    const { samples, text } = await waitFor('four messages dead-lettered and their notices relayed', async () => {
      const s = await scrape(gw);
      const deadLettered = s.samples.get('mailmoat_deadlettered_total{reason="rejected"}')! + s.samples.get('mailmoat_deadlettered_total{reason="expired"}')!;
      const done = s.samples.get('mailmoat_relayed_total{kind="notice"}') === 4 && deadLettered === 4;
      return done ? s : undefined;
    }, 20_000);
    assert.equal(samples.get('mailmoat_relayed_total{kind="message"}'), 1);
    assert.equal(samples.get('mailmoat_deadlettered_total{reason="rejected"}'), 1);
    assert.equal(samples.get('mailmoat_deadlettered_total{reason="expired"}'), 3);
    assert.equal(samples.get('mailmoat_bounced_total'), 4);
    for (const reason of ['reply_4xx', 'connect', 'tls']) assert.ok(samples.get(`mailmoat_deferred_total{reason="${reason}"}`)! >= 1, `${reason}: ${text}`);
    for (const reason of ['timeout', 'dns', 'other']) assert.equal(samples.get(`mailmoat_deferred_total{reason="${reason}"}`), 0, reason);
    assert.match(text, /^# TYPE mailmoat_deferred_total counter$/m);
    assert.doesNotMatch(text, /^mailmoat_(relayed|deferred|deadlettered)_total \d/m, 'no series without its label');

    const lint = await promtool(text);
    assert.equal(lint.code, 0, lint.said);
  });

  it('shows the room left on data_dir\'s file system, and DATA and DNS times as proper summaries', async () => {
    const { samples, text } = await scrape(gw);
    const free = samples.get('mailmoat_data_dir_free_bytes')!;
    const size = samples.get('mailmoat_data_dir_size_bytes')!;
    assert.ok(free > 0 && size >= free, `free ${free} of ${size}`);
    assert.match(text, /^# TYPE mailmoat_data_dir_free_bytes gauge$/m);
    assert.match(text, /^# TYPE mailmoat_data_duration_window_seconds summary$/m);
    assert.ok(samples.get('mailmoat_data_duration_window_seconds{quantile="0.99"}')! > 0);
    assert.equal(samples.get('mailmoat_data_duration_window_seconds_count'), samples.get('mailmoat_data_duration_seconds_count'));
    assert.match(text, /^# TYPE mailmoat_dns_query_duration_seconds summary$/m);
  });

  it('moat metrics --json and its text list histogram buckets in the order of their bounds', async () => {
    const { stdout } = await run(process.execPath, [MOAT, 'metrics', '--set', `data_dir=${gw.dataDir}`, '--json']);
    const bounds = [...stdout.matchAll(/"data_duration_seconds":\{"buckets":\{([^}]*)\}/g)][0][1].split(',').map((kv) => kv.split(':')[0].replace(/"/g, ''));
    assert.deepEqual(bounds, ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf']);
    const parsed = JSON.parse(stdout) as { relayed: number; relayed_by_kind: Record<string, number> };
    assert.deepEqual([parsed.relayed, parsed.relayed_by_kind], [5, { message: 1, notice: 4 }], 'the total as ever, and by kind beside it');
    const { stdout: text } = await run(process.execPath, [MOAT, 'metrics', '--set', `data_dir=${gw.dataDir}`]);
    const rows = text.split('\n').filter((l) => l.startsWith('data_duration_seconds_buckets_')).map((l) => l.split(/\s+/)[0].slice('data_duration_seconds_buckets_'.length));
    assert.deepEqual(rows, bounds);
  });
});
