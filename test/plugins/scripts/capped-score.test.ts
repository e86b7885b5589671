// A script's `score` is the total the verdict gives the findings before it, scores.max_per_plugin applied: two findings
// of 3 and 4 from a plugin capped at 5 show 5 to the script, as X-Mailmoat-Verdict does.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const RECORDER = path.join(import.meta.dirname, '..', 'rules', 'finding-recorder.ts');
const SHOW_SCORE = `module.exports = (m) => ({ addHeaders: [{ name: 'X-Script-Score', value: String(m.score) }] });`;

describe('plugins/scripts: the score a script sees with scores.max_per_plugin', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let gw: RelayingGateway;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-cap-'));
    end = holdUntilExit({ dir });
    const script = path.join(dir, 'show-score.js');
    writeFileSync(script, SHOW_SCORE);
    gw = await startRelayingGateway({
      config: {
        scores: { max_per_plugin: { 'finding-recorder': 5 } },
        plugins: [{ name: 'finding-recorder', module: RECORDER }, { name: 'scripts', scripts: [script] }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  it('shows the capped total, the score the verdict header gives', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const message = `X-Test-Finding: RBL_A=3\r\nX-Test-Finding: RBL_B=4\r\n${testMessage({ subject: 'script-cap-1' })}`;
      const r = await d.data(message);
      assert.equal(r.code, 250, r.text);
    } finally { await d.quit(); }
    const raw = await gw.sink.waitForText('script-cap-1');
    assert.match(raw, /^X-Script-Score: 5\r$/m);
    assert.match(raw, /^X-Mailmoat-Verdict: add_header; score=5; .*capped=finding-recorder\(7->5\)\r$/m);
  });
});
