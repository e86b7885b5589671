// `moat start` under a supervisor that signals twice (runuser forwards the SIGTERM a control-group kill also sent to
// node): the second signal is logged, and the stop goes on in order, taking the message whose client is mid-DATA.
// SIGQUIT exits at once, after logging what it cut off.
import assert from 'node:assert/strict';
import { spawnGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { logLines } from '../helpers/spawned-log.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** A session that has sent part of a message and not its final dot. */
async function midData(port: number): Promise<SmtpDialog> {
  const c = await SmtpDialog.connect(port);
  await c.hello();
  assert.equal((await c.cmd('MAIL FROM:<a@client.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  c.write('From: a@client.example\r\nTo: user@example.com\r\nSubject: signals\r\n\r\nfirst half\r\n');
  return c;
}

const lineNamed = (gw: SpawnedGateway, msg: string) => logLines(gw).find((l) => l.msg === msg);

/**
 * A gateway stopping on SIGTERM while a client is mid-DATA, handed to `during`; the control group's SIGTERM, as a
 * supervisor sends it, after which `during` sends what comes next.
 */
async function whileStopping(during: (gw: SpawnedGateway, c: SmtpDialog) => Promise<void>): Promise<void> {
  const gw = await spawnGateway();
  const c = await midData(gw.port);
  try {
    gw.child.kill('SIGTERM');
    await waitFor('the stopping line', () => lineNamed(gw, 'stopping'));
    await during(gw, c);
  } finally {
    c.hangUp();
    await gw.kill('SIGKILL');
  }
}

describe('moat start: signals during a stop', function () {
  this.timeout(60_000);

  it('logs a repeated SIGTERM or SIGINT and keeps stopping in order: the message under way is taken, exit 0', async () => {
    await whileStopping(async (gw, c) => {
      // runuser's forwarded copy (sent at once with the first, it may reach node as one: a pending signal is not
      // queued twice), then an impatient Ctrl-C.
      gw.child.kill('SIGTERM');
      const again = await waitFor('the already-stopping line', () => lineNamed(gw, 'already stopping'));
      gw.child.kill('SIGINT');
      await waitFor('a second already-stopping line', () => logLines(gw).filter((l) => l.msg === 'already stopping').length === 2 || undefined);
      assert.equal(lineNamed(gw, 'stopping')?.reason, 'SIGTERM');
      assert.equal(again.sessions, 1, JSON.stringify(again));
      assert.equal(typeof again.deliveries, 'number');
      assert.equal(gw.child.exitCode, null, 'still running: the message is still arriving');
      // 250 only once the message is on disk: it is delivered after the next start.
      c.write('second half\r\n.\r\n');
      const reply = await c.read();
      assert.equal(reply.code, 250, reply.text);
      assert.equal(await gw.exited, 0);
      assert.ok(lineNamed(gw, 'mailmoat stopped'), 'the stop ran to its end, and its lines were written before the exit');
    });
  });

  it('exits at once on SIGQUIT, with status 131, having logged what it cut off', async () => {
    await whileStopping(async (gw) => {
      gw.child.kill('SIGQUIT');
      assert.equal(await gw.exited, 131);
      const quit = logLines(gw).at(-1);
      assert.match(String(quit?.msg), /^exiting at once on SIGQUIT/);
      assert.equal(quit?.sessions, 1);
      assert.ok(!lineNamed(gw, 'mailmoat stopped'), 'the stop did not finish');
    });
  });
});
