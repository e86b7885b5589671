// The rules' `accept` action (Rspamd's force_actions "no action", PMG's accept): a message whose score is over the
// reject threshold is delivered on a rule's word, through a real gateway, real blocklist lookups and a real clamd;
// a virus clamd found still wins over the rule.
import assert from 'node:assert/strict';
import { startClamd, MARKER, type ClamdHandle } from '../../helpers/clamd.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

/** Listed at bl-test.example: its listing alone (20) is over the reject threshold (15). */
const LISTED = '93.184.216.2';

async function sendFrom(port: number, from: string, message: string): Promise<SmtpReply> {
  const d = await SmtpDialog.connect(port);
  try {
    assert.equal((await d.hello({ xclient: { addr: LISTED } })).code, 250);
    assert.equal((await d.cmd(`MAIL FROM:<${from}>`)).code, 250);
    assert.equal((await d.cmd('RCPT TO:<ann@example.com>')).code, 250);
    return await d.data(message);
  } finally { await d.quit(); }
}

const qidOf = (r: SmtpReply) => /queued as (\S+)/.exec(r.text)?.[1];

describe('plugins/rules: the accept action', function () {
  this.timeout(60_000);
  let dns: DnsTestServer;
  let clamd: ClamdHandle;
  let gw: RelayingGateway;
  before(async () => {
    dns = await startDnsServer({ zones: { 'bl-test.example': { '2.216.184.93': { A: '127.0.0.2' } } } });
    clamd = await startClamd();
    gw = await startRelayingGateway({ config: {
      dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
      plugins: [
        { name: 'rbl', zones: [{ zone: 'bl-test.example', score: 20 }], skip_private: false },
        // Tagged rather than refused: the virus reaches the verdict as a finding, where the rule's accept meets it.
        { name: 'clamav', socket: clamd.socket, action: 'tag', score: 1 },
        { name: 'rules', rules: [
          { name: 'partner', when: { from: { domain: 'partner.example' } }, actions: ['accept'] },
        ] },
      ],
    } });
  });
  after(async () => { await gw?.stop(); await clamd?.close(); await dns?.stop(); });

  it('delivers a message whose score is over the reject threshold, the rule named as the reason', async () => {
    const r = await sendFrom(gw.port, 'ceo@partner.example', testMessage({ subject: 'accept-1' }));
    assert.equal(r.code, 250, r.text);
    const raw = await gw.sink.waitForText('accept-1');
    assert.match(raw, /^X-Mailmoat-Verdict: accept; score=20; .*symbols=RBL_BL_TEST\(20\).*; reason="rules: rule partner"\r$/m);
    assert.match(raw, /^X-Mailmoat-Spam: No\r$/m);
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qidOf(r));
    assert.equal(summary?.verdict, 'accept');
    assert.equal(summary?.reason, 'rules: rule partner');
  });

  it('leaves a sender the rule does not name to the score: refused', async () => {
    const r = await sendFrom(gw.port, 'someone@elsewhere.example', testMessage({ subject: 'accept-2' }));
    assert.equal(r.code, 550);
    const summary = gw.logs.find((l) => l.msg === 'message' && l.verdict === 'reject' && String(l.from) === 'someone@elsewhere.example');
    assert.match(String(summary?.reason), /^score 20 ≥ reject threshold 15/);
  });

  it('gives way to a virus clamd found: the score decides, and the reason says the accept was not applied', async () => {
    const r = await sendFrom(gw.port, 'ceo@partner.example', testMessage({ subject: 'accept-3', body: `see ${MARKER} here` }));
    assert.equal(r.code, 550, r.text);
    const summary = gw.logs.find((l) => l.msg === 'message' && l.verdict === 'reject' && String(l.reason).includes('not applied'));
    assert.match(String(summary?.reason), /^score 21 ≥ reject threshold 15.*; rules: rule partner not applied: CLAM_VIRUS recorded$/);
    assert.match(String(summary?.symbols), /CLAM_VIRUS\(1\)/);
  });
});
