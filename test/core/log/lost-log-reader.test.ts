// `moat start | svlogd …`: the program reading the log may exit (a restart, a crash) while the gateway runs. The MX must
// go on taking mail, saying on stderr that its log now goes there, and logging there, the lines that found the reader
// gone included.
import assert from 'node:assert/strict';
import { spawnGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendOneMessage } from '../lifecycle/one-message.ts';

const NOTICE = /^moat start: standard output has no reader any more \(EPIPE: .*\); the log goes to standard error from now on/m;

describe('log: the reader of stdout goes away', function () {
  this.timeout(60_000);

  it('keeps taking mail and logs to stderr from then on', async () => {
    const gw = await spawnGateway();
    try {
      // From here on only stderr reaches `output`.
      gw.child.stdout!.destroy();
      const mark = gw.output.join('').length;
      const stderr = () => gw.output.join('').slice(mark);
      const lines = () => stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

      // The first session's lines are the ones that find the reader gone.
      const first = await sendOneMessage(gw.port, 'first after the reader left');
      assert.equal(first.code, 250, first.text);
      await waitFor(() => `the notice on stderr:\n${stderr()}`, () => NOTICE.test(stderr()) || undefined);
      const second = await sendOneMessage(gw.port, 'second after the reader left');
      assert.equal(second.code, 250, second.text);

      const summaries = await waitFor(() => `both summary lines on stderr:\n${stderr()}`, () => {
        const found = lines().filter((l) => l.msg === 'message');
        return found.length === 2 ? found : undefined;
      });
      assert.ok(summaries.every((l) => l.verdict === 'accept'), JSON.stringify(summaries));
      // Each session's first line too, the first one's being the write that found the reader gone.
      assert.equal(lines().filter((l) => l.msg === 'connect').length, 2, stderr());
      // The notice comes once, before the lines it announces.
      assert.equal(stderr().match(new RegExp(NOTICE.source, 'gm'))?.length, 1);
      assert.ok(stderr().search(NOTICE) < stderr().indexOf('"msg":"message"'));
      assert.equal(gw.child.exitCode, null, 'the gateway still runs');

      // A stop still runs in order, its lines on stderr too.
      gw.child.kill('SIGTERM');
      assert.equal(await gw.exited, 0);
      assert.ok(lines().some((l) => l.msg === 'stopping' && l.reason === 'SIGTERM'));
      assert.ok(lines().some((l) => l.msg === 'mailmoat stopped'));
    } finally {
      await gw.kill('SIGKILL');
    }
  });
});
