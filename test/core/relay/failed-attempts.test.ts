// Attempts that end before DATA (every recipient refused for now) must not keep the message's file open: one file
// per failed attempt stayed open, and a queue of deferred mail ran the gateway into EMFILE and a crash.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const openFiles = () => readdirSync('/proc/self/fd').length;

describe('relay attempts refused before DATA', function () {
  this.timeout(30_000);

  it('leave no file open, however many there are', async () => {
    const gw = await startRelayingGateway({ config: { queue: { retry_schedule: ['100ms'] } } });
    try {
      gw.sink.rcptReplies.set('user@example.com', 451);
      const d = await SmtpDialog.connect(gw.port);
      await d.hello();
      await d.cmd('MAIL FROM:<a@client.example>');
      await d.cmd('RCPT TO:<user@example.com>');
      // Over 128 KB: spooled to a file of its own, which each attempt reads from.
      assert.equal((await d.data(testMessage({ body: 'x'.repeat(200_000) }))).code, 250);
      await d.quit();
      const attempts = () => gw.logs.filter((l) => l.msg === 'deferred').length;
      const until = (n: number) => waitFor(`${n} deferred attempts`, () => attempts() >= n || undefined, 25_000);
      await until(3);
      const before = openFiles();
      await until(40);
      assert.ok(openFiles() <= before + 3, `${attempts()} attempts: open files ${before} → ${openFiles()}`);
    } finally {
      await gw.stop();
    }
  });
});
