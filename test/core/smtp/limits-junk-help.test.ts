// HELP is a junk command, as Postfix counts it: past limits.max_junk_commands the client gets 421 4.7.0 and is
// disconnected, however many it pipelined.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { repliesUntilClosed } from './replies-until-closed.ts';

describe('limits.max_junk_commands and HELP', function () {
  this.timeout(30_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  it('answers 100 pipelined HELPs of 10,000 with 214, then 421 4.7.0, and closes', async () => {
    gw = await startGateway();
    const d = await SmtpDialog.connect(gw.port);
    let replies: SmtpReply[];
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.80' } })).code, 250);
      d.write('HELP\r\n'.repeat(10_000));
      replies = await repliesUntilClosed(d, 10_001);
    } finally { await d.quit(); }
    assert.equal(replies.length, 101);
    assert.deepEqual(new Set(replies.slice(0, 100).map((r) => r.code)), new Set([214]));
    assert.equal(replies[100].code, 421);
    assert.match(replies[100].text, /^4\.7\.0 /);
    const line = gw.logs.find((l) => l.msg === 'client refused: too many junk commands');
    assert.equal(line?.after, 'HELP');
  });

  it('counts HELP with NOOP and RSET against the same limit', async () => {
    gw = await startGateway({ config: { limits: { max_junk_commands: 3 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.81' } })).code, 250);
      assert.deepEqual([(await d.cmd('HELP')).code, (await d.cmd('NOOP')).code, (await d.cmd('HELP MAIL')).code], [214, 250, 214]);
      const r = await d.cmd('RSET');
      assert.equal(r.code, 421);
      await assert.rejects(d.read(3_000), /connection closed/);
    } finally { await d.quit(); }
  });
});
