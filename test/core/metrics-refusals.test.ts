// Refusals an SRE can break down, scraped over HTTP from a real gateway with real SMTP clients: refused recipients by
// reason (relay denied, too many, blocked, a plugin's), refusals by plugin and class (4xx temporary, 5xx permanent)
// at every stage, the end of DATA included (a plugin's outcome, or the plugin whose findings reached a threshold),
// and plugin failures by hook and kind (threw, timed out, an outcome the core refused).
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { scrapeMetrics } from './metrics-scrape.ts';

const BEHAVIOUR = path.resolve(import.meta.dirname, '../fixtures/plugins/test-behaviour.ts');
const ODD = path.resolve(import.meta.dirname, 'odd-outcome-plugin.ts');

const scrape = async (gw: TestGateway) => (await scrapeMetrics(gw)).samples;

/** The RCPT replies of one transaction, then its DATA reply when every recipient was taken. */
async function transaction(gw: TestGateway, to: string[], message?: { subject: string; headers?: Record<string, string> }): Promise<number[]> {
  const d = await SmtpDialog.connect(gw.port);
  try {
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    const codes: number[] = [];
    for (const t of to) codes.push((await d.cmd(`RCPT TO:<${t}>`)).code);
    if (message && !codes.some((c) => c !== 250)) codes.push((await d.data(testMessage({ to: to[0], ...message }))).code);
    return codes;
  } finally { await d.quit(); }
}

describe('metrics of refusals, by reason, plugin and class', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      config: {
        http: { listen: ['127.0.0.1:0'] },
        limits: { max_recipients: 2 },
        access: { blocked_recipients: ['blocked@example.com'] },
        plugins: [{ name: 'test-behaviour', module: BEHAVIOUR, timeout: '300ms' }, { name: 'odd-outcome', module: ODD }],
      },
    });
  });
  after(async () => { await gw?.stop(); });

  it('counts refused recipients by reason', async () => {
    // Plugin failures are counted for the whole process, which may have run other gateways' tests before.
    const before = await scrape(gw);
    assert.deepEqual(await transaction(gw, ['someone@elsewhere.example', 'blocked@example.com']), [554, 550]);
    assert.deepEqual(await transaction(gw, ['a@example.com', 'b@example.com', 'c@example.com']), [250, 250, 452]);
    assert.deepEqual(await transaction(gw, ['odd@example.com']), [451]);
    const s = await scrape(gw);
    const reason = (r: string) => s.get(`mailmoat_recipients_refused_total{reason="${r}"}`);
    assert.deepEqual(['relay_denied', 'blocked', 'too_many_recipients', 'plugin', 'rate_limit', 'other'].map(reason), [1, 1, 1, 1, 0, 0]);
    assert.equal(s.get('mailmoat_refusals_total{stage="rcpt_to",plugin="odd-outcome",class="temporary"}'), 1);
    const invalid = 'mailmoat_plugin_errors_total{plugin="odd-outcome",hook="rcpt_to",kind="invalid_outcome"}';
    assert.equal(s.get(invalid)! - (before.get(invalid) ?? 0), 1);
  });

  it('counts refusals at the end of DATA under the plugin that decided, with their class, and the plugin failures', async () => {
    const before = await scrape(gw);
    const failures = (kind: string, at: Map<string, number>) => at.get(`mailmoat_plugin_errors_total{plugin="test-behaviour",hook="data",kind="${kind}"}`) ?? 0;
    assert.deepEqual(await transaction(gw, ['ann@example.com'], { subject: 'please-reject' }), [250, 554]);
    assert.deepEqual(await transaction(gw, ['ann@example.com'], { subject: 'scored', headers: { 'X-Test-Score': '20' } }), [250, 550]);
    assert.deepEqual(await transaction(gw, ['ann@example.com'], { subject: 'please-throw' }), [250, 451]);
    assert.deepEqual(await transaction(gw, ['ann@example.com'], { subject: 'please-hang' }), [250, 451]);
    assert.deepEqual(await transaction(gw, ['ann@example.com'], { subject: 'fine' }), [250, 250]);
    const s = await scrape(gw);
    assert.equal(s.get('mailmoat_refusals_total{stage="data",plugin="test-behaviour",class="permanent"}'), 2, 'its outcome, then its finding\'s score');
    assert.equal(s.get('mailmoat_refusals_total{stage="data",plugin="test-behaviour",class="temporary"}'), 2);
    assert.equal(failures('threw', s) - failures('threw', before), 1);
    assert.equal(failures('timeout', s) - failures('timeout', before), 1);
    assert.equal(s.get('mailmoat_messages_total{verdict="reject"}'), 2);
    assert.equal(s.get('mailmoat_messages_total{verdict="tempfail"}'), 2);
  });
});
