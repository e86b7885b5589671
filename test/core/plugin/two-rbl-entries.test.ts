// Blocklists split into two groups with caps of their own, as Rspamd admins do: a second rbl entry loaded by `module:`
// under its own name is a plugin of its own. Its lookups are not the first entry's (rbl caches them per connection),
// its findings carry its name and its cap, its refusals are counted under it, and `moat check` reports it so.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import type { CheckReport } from '../../../core/smtp/check-transaction.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const RBL_MODULE = path.resolve(import.meta.dirname, '..', '..', '..', 'plugins', 'rbl', 'index.ts');
/** Listed in the three scoring lists. */
const LISTED = '93.184.216.20';
/** Listed in the list whose listing refuses each RCPT, which the second entry asks. */
const RCPT_LISTED = '93.184.216.21';
const reversed = (ip: string) => ip.split('.').reverse().join('.');

const VERDICT = /^X-Mailmoat-Verdict: add_header; score=7; required=15; level=Low; symbols=RBL_BL1\(4\) RBL_BL2\(4\) RBL_BL3\(4\); capped=rbl\(8->6\) rbl-extra\(4->1\)\r?$/m;

describe('two rbl entries with zones and caps of their own', function () {
  this.timeout(60_000);
  let dns: DnsTestServer;
  let gw: RelayingGateway;
  before(async () => {
    const listed = { A: '127.0.0.2' };
    dns = await startDnsServer({
      zones: {
        'bl1.test': { [reversed(LISTED)]: listed },
        'bl2.test': { [reversed(LISTED)]: listed },
        'bl3.test': { [reversed(LISTED)]: listed },
        'rcpt.test': { [reversed(RCPT_LISTED)]: listed },
      },
    });
    gw = await startRelayingGateway({
      config: {
        dns: { servers: [dns.address], timeout: '500ms', tries: 2 },
        plugins: [
          { name: 'rbl', zones: [{ zone: 'bl1.test', score: 4 }, { zone: 'bl2.test', score: 4 }] },
          { name: 'rbl-extra', module: RBL_MODULE, zones: [{ zone: 'bl3.test', score: 4 }, { zone: 'rcpt.test', action: 'reject_rcpt', symbol: 'RBL_EXTRA_RCPT' }] },
        ],
        scores: { max_per_plugin: { rbl: 6, 'rbl-extra': 1 } },
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await dns?.stop();
  });

  it('scores each entry\'s own zones under its own cap, message after message on one connection', async () => {
    await dns.resetQueries();
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: LISTED } })).code, 250);
    for (const n of [1, 2]) {
      assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const r = await d.data(testMessage({ subject: `groups ${n}` }));
      assert.equal(r.code, 250, r.text);
    }
    await d.quit();
    const relayed = await gw.sink.waitFor(2);
    for (const m of relayed) assert.match(m.raw.toString(), VERDICT);
    const summaries = gw.logs.filter((l) => l.msg === 'message');
    assert.deepEqual(summaries.map((l) => l.details), [0, 1].map(() => [
      `RBL_BL1: ${LISTED} listed at bl1.test (127.0.0.2)`, `RBL_BL2: ${LISTED} listed at bl2.test (127.0.0.2)`, `RBL_BL3: ${LISTED} listed at bl3.test (127.0.0.2)`,
    ]));
    // Each entry asked its own lists once for the connection, and kept the answers for its second message.
    const asked = (await dns.queries()).filter((q) => q.type === 'A').map((q) => q.name).sort();
    assert.deepEqual(asked, ['bl1.test', 'bl2.test', 'bl3.test', 'rcpt.test'].map((z) => `${reversed(LISTED)}.${z}`));
  });

  it('counts a refusal by the second entry under its name', async () => {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: RCPT_LISTED } })).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    const r = await d.cmd('RCPT TO:<user@example.com>');
    assert.equal(r.code, 550, r.text);
    await d.quit();
    const refused = gw.logs.filter((l) => l.msg === 'recipient refused');
    assert.deepEqual(refused.map((l) => l.plugin), ['rbl-extra']);
    const text = gw.gateway.runtime.metrics.prometheus();
    assert.match(text, /^mailmoat_refusals_total\{stage="rcpt_to",plugin="rbl-extra",class="permanent"\} 1$/m);
    assert.match(text, /^mailmoat_refusal_findings_total\{stage="rcpt_to",symbol="RBL_EXTRA_RCPT"\} 1$/m);
  });

  it('moat check reports each finding under its entry, and both caps', async () => {
    // In the gateway's data_dir, which goes with it.
    const file = path.join(gw.dataDir, 'message.eml');
    writeFileSync(file, testMessage({ subject: 'checked' }).replace(/\r\n/g, '\n'));
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [MOAT, 'check', '--set', `data_dir=${gw.dataDir}`, file, '--ip', LISTED, '--from', 'joe@client.example', '--to', 'user@example.com', '--json'],
        { cwd: os.tmpdir() }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.deepEqual(report.findings.map((f) => [f.symbol, f.score, f.plugin]), [['RBL_BL1', 4, 'rbl'], ['RBL_BL2', 4, 'rbl'], ['RBL_BL3', 4, 'rbl-extra']]);
    assert.equal(report.score, 7);
    assert.ok(report.headers.some((h) => VERDICT.test(h)), report.headers.join('\n'));
  });
});
