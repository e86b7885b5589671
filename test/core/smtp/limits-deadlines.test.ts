// Deadlines no trickle extends: a message must reach its final dot within limits.data_timeout of the 354, and a
// command line must be complete within server.idle_timeout of its first byte (the idle timeout alone starts again at
// every byte). Each ends with 421 4.4.2, logged as a timeout; a slow but steady upload within the deadline is taken.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `text` a piece at a time, `everyMs` apart, until it is written or the connection closes; returns when. */
async function trickle(d: SmtpDialog, text: string, piece: number, everyMs: number): Promise<void> {
  for (let at = 0; at < text.length && !d.closed; at += piece) {
    d.write(text.slice(at, at + piece));
    await sleep(everyMs);
  }
}

/** Walks a new session from the greeting to DATA's 354, a reply at a time. */
async function toDataPrompt(d: SmtpDialog): Promise<void> {
  assert.equal((await d.hello()).code, 250);
  assert.equal((await d.cmd('MAIL FROM:<slow@client.example>')).code, 250);
  assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
  assert.equal((await d.cmd('DATA')).code, 354);
}

describe('deadlines that a trickle does not extend', function () {
  this.timeout(30_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  it('ends a DATA still unfinished at limits.data_timeout with 421 4.4.2, however steadily bytes come', async () => {
    gw = await startGateway({ config: { server: { idle_timeout: '1s' }, limits: { data_timeout: '2s' } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      await toDataPrompt(d);
      const at = Date.now();
      // One byte every 300 ms: each well inside the idle timeout.
      const writing = trickle(d, testMessage({ body: 'x'.repeat(200) }), 1, 300);
      const r = await d.read(10_000);
      const after = Date.now() - at;
      assert.equal(r.code, 421);
      assert.match(r.text, /^4\.4\.2 Timeout/);
      assert.ok(after >= 1_900 && after < 3_500, `421 after ${after} ms`);
      await writing;
      await sleep(200);
      assert.equal(d.closed, true, 'the connection is closed');
      const timedOut = gw.logs.find((l) => l.msg === 'client timed out');
      assert.equal(timedOut?.after, 'DATA');
      const summary = gw.logs.find((l) => l.msg === 'message');
      assert.deepEqual([summary?.verdict, summary?.reason], ['aborted', 'timeout during DATA']);
      assert.match(String(summary?.reply), /^421 4\.4\.2 /);
      assert.ok(gw.logs.some((l) => l.msg === 'connection closed' && l.reason === 'timeout after DATA'));
    } finally { await d.quit(); }
  });

  it('takes a slow but steady message that ends within limits.data_timeout', async () => {
    gw = await startGateway({ config: { server: { idle_timeout: '1s' }, limits: { data_timeout: '5s' } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      await toDataPrompt(d);
      const message = testMessage({ body: 'line of the body\r\n'.repeat(400) }) + '.\r\n';
      // About 2.5 s in all, in pieces that each end mid-line.
      await trickle(d, message, Math.ceil(message.length / 12), 200);
      const r = await d.read(5_000);
      assert.equal(r.code, 250, `${r.code} ${r.text}`);
    } finally { await d.quit(); }
  });

  it('ends a command line not complete within idle_timeout of its first byte with 421 4.4.2', async () => {
    gw = await startGateway({ config: { server: { idle_timeout: '1s' } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      const at = Date.now();
      const writing = trickle(d, 'MAIL FROM:<someone-very-slow@client.example>\r\n', 1, 300);
      const r = await d.read(10_000);
      const after = Date.now() - at;
      assert.equal(r.code, 421);
      assert.match(r.text, /^4\.4\.2 Timeout/);
      assert.ok(after >= 900 && after < 2_000, `421 after ${after} ms`);
      await writing;
      const timedOut = gw.logs.find((l) => l.msg === 'client timed out');
      assert.equal(timedOut?.after, 'EHLO');
      assert.match(String(timedOut?.reply), /^421 4\.4\.2 /);
    } finally { await d.quit(); }
  });

  it('lets a client whose lines each arrive in time go on, however long the session', async () => {
    gw = await startGateway({ config: { server: { idle_timeout: '1s' } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      // Each line in two halves 400 ms apart, with pauses between lines: 3 s in all, each line done within 1 s.
      for (const line of ['MAIL FROM:<a@client.example>', 'RCPT TO:<user@example.com>', 'RSET', 'NOOP']) {
        d.write(line.slice(0, 4));
        await sleep(400);
        d.write(`${line.slice(4)}\r\n`);
        assert.equal((await d.read()).code, 250, line);
        await sleep(300);
      }
    } finally { await d.quit(); }
  });
});
