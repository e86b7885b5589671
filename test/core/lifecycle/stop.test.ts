// A stop ends idle sessions at once with 421, and lets a message being received finish and get its 250.
import assert from 'node:assert/strict';
import { QueueStore } from '../../../core/queue/queue-store.ts';
import { startRelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

describe('gateway stop', function () {
  this.timeout(30_000);

  it('tells a session waiting for its next command 421 at once, and still takes the message halfway in', async () => {
    const gw = await startRelayingGateway();
    let stopping: Promise<void> | undefined;
    try {
      const idle = await SmtpDialog.connect(gw.port);
      assert.equal((await idle.hello()).code, 250);
      const busy = await SmtpDialog.connect(gw.port);
      await busy.hello();
      assert.equal((await busy.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await busy.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await busy.cmd('DATA')).code, 354);
      const message = testMessage({ subject: 'sent across a stop' });
      const half = Math.floor(message.length / 2);
      busy.write(message.slice(0, half));

      stopping = gw.gateway.stop();
      // smtp-server alone would keep the idle session for its 10 s close timeout; 3 s is ample for the sweep.
      const told = await idle.read(3_000);
      assert.equal(told.code, 421);
      assert.match(told.text, /^4\.3\.2 /);

      busy.write(message.slice(half) + '\r\n.\r\n');
      const accepted = await busy.read(10_000);
      assert.equal(accepted.code, 250, accepted.text);
      // With its transaction done, the busy session has nothing left to finish either.
      assert.equal((await busy.cmd('NOOP')).code, 421);
      await stopping;

      // Acknowledged, so either relayed before the stop or still in the queue for the next start.
      const relayed = gw.sink.messages.some((m) => m.raw.includes('sent across a stop'));
      const queued = (await new QueueStore(gw.dataDir).list('queue')).length === 1;
      assert.ok(relayed || queued, 'the acknowledged message is kept');
    } finally {
      await (stopping ?? gw.gateway.stop());
      await gw.stop();
    }
  });
});
