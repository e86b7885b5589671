// limits.max_junk_commands: NOOP, VRFY, ETRN and RSET past the limit get 421 4.7.0 and the connection is closed, as
// Postfix's smtpd_junk_command_limit; a message taken starts the count again.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

describe('limits.max_junk_commands', function () {
  this.timeout(30_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });
  const refused = () => gw!.gateway.runtime.metrics.counters.get('connections_refused') ?? 0;

  it('answers the 101st NOOP or RSET in a row (default 100) with 421 4.7.0, closes, logs and counts it', async () => {
    gw = await startGateway();
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      const before = refused();
      for (let i = 0; i < 100; i++) assert.equal((await d.cmd(i % 2 ? 'RSET' : 'NOOP')).code, 250, `command ${i + 1}`);
      const r = await d.cmd('NOOP');
      assert.equal(r.code, 421);
      assert.match(r.text, /^4\.7\.0 /);
      await assert.rejects(d.read(3_000), /connection closed/);
      const line = gw.logs.find((l) => l.msg === 'client refused: too many junk commands');
      assert.equal(line?.after, 'NOOP');
      assert.match(String(line?.reply), /^421 4\.7\.0 /);
      assert.equal(refused(), before + 1);
      await new Promise((res) => setTimeout(res, 100));
      assert.ok(gw.logs.some((l) => l.msg === 'connection closed' && l.reason === 'too many junk commands'));
    } finally { await d.quit(); }
  });

  it('counts VRFY and ETRN too, and starts again after a message is taken', async () => {
    gw = await startGateway({ config: { limits: { max_junk_commands: 3 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      assert.deepEqual([(await d.cmd('NOOP')).code, (await d.cmd('VRFY user')).code, (await d.cmd('RSET')).code], [250, 252, 250]);
      assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await d.data(testMessage())).code, 250);
      // A fresh count of three.
      assert.deepEqual([(await d.cmd('NOOP')).code, (await d.cmd('NOOP')).code, (await d.cmd('RSET')).code], [250, 250, 250]);
      const r = await d.cmd('ETRN example.com');
      assert.equal(r.code, 421);
      assert.match(r.text, /^4\.7\.0 /);
    } finally { await d.quit(); }
  });

  it('leaves a client that sends mail between a few RSETs alone', async () => {
    gw = await startGateway({ config: { limits: { max_junk_commands: 2 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      for (let i = 0; i < 5; i++) {
        assert.equal((await d.cmd('RSET')).code, 250);
        assert.equal((await d.cmd('NOOP')).code, 250);
        assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
        assert.equal((await d.data(testMessage())).code, 250, `message ${i + 1}`);
      }
    } finally { await d.quit(); }
  });
});
