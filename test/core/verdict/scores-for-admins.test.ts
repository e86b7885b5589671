// What an Rspamd admin tunes and reads: a plugin's findings capped as a group (scores.max_per_plugin) and shown so in
// the header and the summary line, the threshold in the verdict header, reply texts that keep the score to the log,
// and metrics of refusals by symbol and of the final scores. A real gateway, real SMTP clients through XCLIENT, a
// loopback DNS server for the lists and a real smarthost.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer, type Zones } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { scoreBuckets } from '../../../core/metrics.ts';
import { validateConfig } from '../../../core/config/load.ts';

/** Client addresses as the DNS zones list them. */
const TWO_LISTS = '93.184.216.20';
const RCPT_LISTED = '93.184.216.5';
const CONNECT_LISTED = '93.184.216.1';
const CLEAN = '93.184.216.40';

/** Two blocklists and two URL lists that list the same client and link, one list refusing RCPT, one the connection. */
const LISTS: Zones = {
  'bl-a.test': { '20.216.184.93': { A: '127.0.0.2' } },
  'bl-b.test': { '20.216.184.93': { A: '127.0.0.2' } },
  'rcpt.test': { '5.216.184.93': { A: '127.0.0.2' } },
  'conn.test': { '1.216.184.93': { A: '127.0.0.2' } },
  'dbl-a.test': { 'spam.example': { A: '127.0.1.2' } },
  'dbl-b.test': { 'spam.example': { A: '127.0.1.2' } },
};

describe('scores an admin can read and bound', function () {
  this.timeout(60_000);
  let dns: DnsTestServer;
  let gw: TestGateway;
  let sink: Smarthost;
  before(async () => {
    [dns, sink] = await Promise.all([startDnsServer({ zones: LISTS }), startSmarthost()]);
    gw = await startGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [
          { name: 'rbl', zones: [
            { zone: 'bl-a.test', symbol: 'RBL_A', score: 2.5 },
            { zone: 'bl-b.test', symbol: 'RBL_B', score: 1.75 },
            { zone: 'rcpt.test', symbol: 'RBL_RCPT', action: 'reject_rcpt' },
            { zone: 'conn.test', symbol: 'RBL_CONN', action: 'reject' },
          ] },
          { name: 'urlbl', zones: [{ zone: 'dbl-a.test', symbol: 'URIBL_A', score: 7 }, { zone: 'dbl-b.test', symbol: 'URIBL_B', score: 7 }] },
        ],
        scores: {
          add_header: 3, tempfail: 8, reject: 18, levels: { low: 5, medium: 8, high: 12 },
          max_per_plugin: { rbl: 4 }, reject_text: 'Refused: spam score {score}',
        },
      },
    });
  });
  after(async () => { await gw?.stop(); await sink?.stop(); await dns?.stop(); });

  async function send(addr: string, body: string): Promise<SmtpReply> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      return await d.data(testMessage({ from: 'joe@client.example', body }));
    } finally { await d.quit(); }
  }
  const summaryOf = (qidOrReply: string) => waitFor('the summary line', () => gw.logs.find((l) => l.msg === 'message' && String(l.reply).includes(qidOrReply)));
  const metrics = () => gw.gateway.runtime.metrics.prometheus();

  it('caps the two blocklists at 4 and says so in the header (with the threshold) and in the summary line', async () => {
    const r = await send(TWO_LISTS, 'Hello\r\n');
    assert.equal(r.code, 250, r.text);
    const head = await sink.waitForText('RBL_A(2.5)');
    // 2.5 + 1.75 = 4.25 counts 4: add_header (3), not tempfail; the level is Low although levels.low is 5.
    assert.match(head, /^X-Mailmoat-Verdict: add_header; score=4; required=18; level=Low; symbols=RBL_A\(2\.5\) RBL_B\(1\.75\); capped=rbl\(4\.25->4\)\r$/m);
    assert.match(head, /^X-Mailmoat-Spam: Yes\r$/m);
    assert.match(head, /^X-Mailmoat-Spam-Level: Low\r$/m);
    const qid = /queued as (\S+)/.exec(r.text)![1];
    const line = await summaryOf(qid);
    assert.equal(line.score, 4);
    assert.match(String(line.reason), /capped by scores\.max_per_plugin: rbl\(4\.25→4\)$/);
  });

  it('defers with the default text, which names no score; the summary line keeps it', async () => {
    const r = await send(CLEAN, 'See http://www.spam.example/deal\r\n');
    assert.equal(r.code, 451);
    assert.equal(r.text, '4.7.1 Message deferred, please try again later');
    const line = await summaryOf('4.7.1 Message deferred');
    assert.equal(line.verdict, 'tempfail');
    assert.equal(line.score, 14);
  });

  it('refuses with the configured text and its {score}, the uncapped plugin counting in full', async () => {
    const r = await send(TWO_LISTS, 'See http://www.spam.example/deal\r\n');
    assert.equal(r.code, 550);
    // rbl 4 (capped) + urlbl 7 + 7 = 18, the reject threshold.
    assert.equal(r.text, '5.7.1 Refused: spam score 18');
  });

  it('counts a RCPT refused by a blocklist by plugin and by symbol, once per refused RCPT, and a connect refusal', async () => {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello({ xclient: { addr: RCPT_LISTED } })).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 550);
    assert.equal((await d.cmd('RCPT TO:<other@example.com>')).code, 550);
    await d.quit();
    const c = await SmtpDialog.connect(gw.port);
    await c.read();
    await c.cmd('EHLO client.test');
    assert.equal((await c.cmd(`XCLIENT ADDR=${CONNECT_LISTED} NAME=[UNAVAILABLE]`)).code, 554);
    await c.quit();
    const text = metrics();
    assert.match(text, /^mailmoat_refusals_total\{stage="rcpt_to",plugin="rbl",class="permanent"\} 2$/m);
    assert.match(text, /^mailmoat_refusal_findings_total\{stage="rcpt_to",symbol="RBL_RCPT"\} 2$/m);
    assert.match(text, /^mailmoat_refusal_findings_total\{stage="connect",symbol="RBL_CONN"\} 1$/m);
    assert.match(text, /^# TYPE mailmoat_refusal_findings_total counter$/m);
    // Messages' findings stay per message: the refusals added none.
    assert.doesNotMatch(text, /^mailmoat_findings_total\{symbol="RBL_(RCPT|CONN)"\}/m);
    assert.match(text, /^mailmoat_findings_total\{symbol="RBL_A"\} 2$/m);
    assert.ok(!gw.logs.some((l) => l.msg === 'finding outside a transaction ignored'), 'the connect refusal took its finding');
  });

  it('has a histogram of final scores with buckets around the thresholds and levels of the start', async () => {
    const text = metrics();
    assert.match(text, /^# TYPE mailmoat_message_score histogram$/m);
    const bucket = (le: string) => Number(new RegExp(`^mailmoat_message_score_bucket\\{le="${le.replace(/[.+]/g, '\\$&')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    // Scores so far: 4, 14 and 18.
    assert.equal(bucket('2.99'), 0, 'none below add_header');
    assert.equal(bucket('4'), 1, 'the capped message, within 1 of levels.low');
    assert.equal(bucket('7.99'), 1, 'none more below tempfail');
    assert.equal(bucket('16'), 2);
    assert.equal(bucket('17.99'), 2, 'the one at 18 reached reject');
    assert.equal(bucket('+Inf'), 3);
    assert.match(text, /^mailmoat_message_score_count 3$/m);
    assert.match(text, /^mailmoat_message_score_sum 36$/m);
  });
});

describe('scores: buckets, and the keys check-config checks', () => {
  it('places buckets at t-2, t-1 and t-0.01 of every threshold and level, and at 0', () => {
    assert.deepEqual(scoreBuckets({ add_header: 5, reject: 15, levels: { low: 5, medium: 8, high: 12 } }),
      [0, 3, 4, 4.99, 6, 7, 7.99, 10, 11, 11.99, 13, 14, 14.99]);
  });

  it('refuses a cap for a plugin not in the chain, and a reply text that cannot be sent', async () => {
    const bad = { plugins: [{ name: 'rbl' }], scores: { max_per_plugin: { rbll: 4 }, reject_text: 'Spam {points}', tempfail_text: 'Later\r\nX: y' } };
    await assert.rejects(validateConfig(bad), (e: Error) => {
      assert.match(e.message, /scores\.max_per_plugin\.rbll: names no plugin in plugins \(rbl\): it would cap nothing/);
      assert.match(e.message, /scores\.reject_text: has an unknown placeholder \{points\} \(known: \{score\}\)/);
      assert.match(e.message, /scores\.tempfail_text: must be printable ASCII on one line/);
      return true;
    });
  });
});
