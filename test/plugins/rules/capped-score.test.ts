// The `score` criterion tests the total the verdict gives, scores.max_per_plugin applied: with `rules: 6` a rule's 12
// counts 6, so a rule refusing at 10 must not fire while X-Mailmoat-Verdict says score=6 (it did: the criterion summed
// the findings without the caps).
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

const RECORDER = path.join(import.meta.dirname, 'finding-recorder.ts');

const RULES = {
  name: 'rules',
  rules: [
    { name: 'loud', when: { subject: { contains: 'LOUD' } }, actions: [{ score: 12 }] },
    { name: 'over-ten', when: { score: { at_least: 10 } }, actions: ['reject'] },
    { name: 'saw-six', when: { score: { at_least: 6, below: 7 } }, actions: [{ add_header: { name: 'X-Saw-Score', value: 'six' } }] },
  ],
};

async function send(port: number, subject: string, headers: Record<string, string> = {}): Promise<SmtpReply> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    return await d.data(testMessage({ subject, headers }));
  } finally { await d.quit(); }
}

describe('plugins/rules: the score criterion with scores.max_per_plugin', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: { scores: { max_per_plugin: { rules: 6 } }, plugins: [{ name: 'finding-recorder', module: RECORDER }, RULES] },
    });
  });
  after(async () => { await gw?.stop(); });

  it('sees a rule\'s 12 capped to 6, as the verdict header shows it: the reject at 10 does not fire', async () => {
    const r = await send(gw.port, 'LOUD offer capped-1');
    assert.equal(r.code, 250, r.text);
    const raw = await gw.sink.waitForText('capped-1');
    assert.match(raw, /^X-Mailmoat-Verdict: add_header; score=6; required=15; level=Low; symbols=RULE_LOUD\(12\); capped=rules\(12->6\)\r$/m);
    assert.match(raw, /^X-Saw-Score: six\r$/m, 'the criterion saw 6');
  });

  it('still fires at 10 on findings no cap bounds', async () => {
    const r = await send(gw.port, 'quiet offer uncapped-2', { 'X-Test-Finding': 'BAYES_SPAM_99=12' });
    assert.equal(r.code, 550, r.text);
    assert.ok(!gw.sink.messages.some((m) => m.raw.toString('latin1').includes('uncapped-2')));
  });
});
