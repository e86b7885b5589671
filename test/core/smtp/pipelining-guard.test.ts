// RFC 2920: the message follows DATA only after the 354, EHLO and HELO end a group, and nothing is pipelined where
// PIPELINING was not offered. A client that sends early (a bulk sender that never reads replies, an SMTP smuggling
// attempt) gets 554 5.5.0 and is disconnected, its transaction dropped, as Postfix 3.9 does by default; a client
// that pipelines as RFC 2920 allows is served as before.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { excerptOf } from '../../../core/smtp/pipelining-guard.ts';

const SLOW_DATA_START = path.resolve(import.meta.dirname, 'slow-data-start-plugin.ts');
const REFUSED = 'client refused: improper command pipelining';

/** Every reply until the server closes the connection. */
async function repliesUntilClosed(d: SmtpDialog): Promise<SmtpReply[]> {
  const out: SmtpReply[] = [];
  for (;;) {
    try { out.push(await d.read(5000)); } catch (e) {
      if ((e as Error).message === 'connection closed') return out;
      throw e;
    }
  }
}

async function sendClean(gw: RelayingGateway, subject: string): Promise<SmtpReply> {
  const d = await SmtpDialog.connect(gw.port);
  await d.hello();
  assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
  assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
  const r = await d.data(testMessage({ subject }));
  await d.quit();
  return r;
}

describe('input sent before the reply it had to wait for (RFC 2920)', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config: { server: { greeting_delay: 0 } } }); });
  after(async () => { await gw?.stop(); });

  const refusals = () => gw.logs.filter((l) => l.msg === REFUSED);
  const refusedCount = () => gw.gateway.runtime.metrics.counters.get('connections_refused') ?? 0;

  it('a message written with its DATA gets 554 5.5.0 and a closed connection, nothing is queued, and the next client delivers', async () => {
    const before = refusals().length;
    const counted = refusedCount();
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const body = `smuggled-${'x'.repeat(300)}\r\n`;
    d.write(`DATA\r\n${testMessage({ subject: 'early-data', body })}.\r\n`);
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [554], JSON.stringify(replies));
    assert.match(replies[0].text, /^5\.5\.0 /);

    const [line, ...more] = refusals().slice(before);
    assert.equal(more.length, 0);
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.after, 'DATA');
    assert.equal(line.reason, 'message sent before 354');
    assert.ok(Number(line.bytes) > 300, String(line.bytes));
    const input = String(line.input);
    assert.ok(input.startsWith('From: sender@client.example\\r\\nTo: user@example.com\\r\\n'), input);
    assert.ok(input.length <= 101, `excerpt of ${input.length} characters`);
    assert.equal(refusedCount(), counted + 1);
    assert.ok(!gw.logs.some((l) => l.cid === line.cid && l.msg === 'message'), 'no message summary for the refused client');

    const ok = await sendClean(gw, 'after-the-refusal');
    assert.equal(ok.code, 250, ok.text);
    await gw.sink.waitFor(1);
    await new Promise((r) => setTimeout(r, 300));
    const texts = gw.sink.messages.map((m) => m.raw.toString('latin1'));
    assert.equal(texts.filter((t) => t.includes('Subject: after-the-refusal')).length, 1);
    assert.ok(!texts.some((t) => t.includes('early-data') || t.includes('smuggled-')), 'the early message reached the smarthost');
  });

  it('MAIL, RCPT and DATA in one write with the message after the 354, and QUIT behind its final dot, is delivered', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    d.write('MAIL FROM:<a@client.example>\r\nRCPT TO:<user@example.com>\r\nRCPT TO:<other@example.com>\r\nDATA\r\n');
    const group = [await d.read(), await d.read(), await d.read(), await d.read()];
    assert.deepEqual(group.map((r) => r.code), [250, 250, 250, 354], JSON.stringify(group));
    d.write(`${testMessage({ subject: 'well-pipelined' })}.\r\nQUIT\r\n`);
    const end = await repliesUntilClosed(d);
    assert.deepEqual(end.map((r) => r.code), [250, 221], JSON.stringify(end));
    const text = await gw.sink.waitForText('Subject: well-pipelined');
    assert.match(text, /Subject: well-pipelined/);
  });

  it('two transactions pipelined after the first one\'s 354 and final dot are both delivered', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    d.write('MAIL FROM:<a@client.example>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n');
    assert.deepEqual([(await d.read()).code, (await d.read()).code, (await d.read()).code], [250, 250, 354]);
    // RFC 2920 lets the next transaction's MAIL and RCPT follow the final dot; its DATA still ends that group.
    d.write(`${testMessage({ subject: 'first-of-two' })}.\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<user@example.com>\r\nDATA\r\n`);
    const next = [await d.read(), await d.read(), await d.read(), await d.read()];
    assert.deepEqual(next.map((r) => r.code), [250, 250, 250, 354], JSON.stringify(next));
    d.write(`${testMessage({ subject: 'second-of-two' })}.\r\n`);
    assert.equal((await d.read()).code, 250);
    await d.quit();
    await gw.sink.waitForText('Subject: first-of-two');
    await gw.sink.waitForText('Subject: second-of-two');
  });

  it('after HELO, where PIPELINING is not offered, a command group gets 554 5.5.0; one command at a time delivers', async () => {
    const before = refusals().length;
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    d.write('HELO client.test\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<user@example.com>\r\n');
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [554], JSON.stringify(replies));
    const [line] = refusals().slice(before);
    assert.equal(line.after, 'HELO');
    assert.equal(line.reason, 'PIPELINING not offered');

    const one = await SmtpDialog.connect(gw.port);
    await one.read();
    assert.equal((await one.cmd('HELO client.test')).code, 250);
    assert.equal((await one.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await one.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await one.data(testMessage({ subject: 'helo-one-by-one' }));
    assert.equal(r.code, 250, r.text);
    await one.quit();
    await gw.sink.waitForText('Subject: helo-one-by-one');
  });

  it('a HELO session that pipelines MAIL and RCPT later in the session is refused at MAIL', async () => {
    const before = refusals().length;
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    assert.equal((await d.cmd('HELO client.test')).code, 250);
    d.write('MAIL FROM:<a@client.example>\r\nRCPT TO:<user@example.com>\r\n');
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [554], JSON.stringify(replies));
    assert.equal(refusals().slice(before)[0]?.after, 'MAIL');
  });

  it('commands written behind EHLO, before its reply offered PIPELINING, get 554 5.5.0', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    d.write('EHLO client.test\r\nMAIL FROM:<a@client.example>\r\n');
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [554], JSON.stringify(replies));
  });

  it('after STARTTLS the message written with its DATA is refused inside TLS as well', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.starttls()).code, 220);
    assert.equal((await d.cmd('EHLO client.test')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    d.write(`DATA\r\n${testMessage({ subject: 'early-in-tls' })}.\r\n`);
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [554], JSON.stringify(replies));
  });

  it('CHUNKING is not offered, and BDAT gets the unknown-command reply without ending the session', async () => {
    const d = await SmtpDialog.connect(gw.port);
    const ehlo = await d.hello();
    assert.ok(!ehlo.lines.some((l) => /^CHUNKING\b/i.test(l)), ehlo.text);
    const r = await d.cmd('BDAT 5 LAST');
    assert.equal(r.code, 500, r.text);
    assert.equal((await d.cmd('NOOP')).code, 250);
    await d.quit();
  });
});

describe('input sent while the dataStart hooks run, before the 354', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { server: { greeting_delay: 0 }, plugins: [{ name: 'slow-data-start', module: SLOW_DATA_START, delay_ms: 300 }] } });
  });
  after(async () => { await gw?.stop(); });

  it('a message sent in its own write right after DATA, without waiting, is refused at the 354', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    d.write('DATA\r\n');
    await new Promise((r) => setTimeout(r, 50));
    d.write(`${testMessage({ subject: 'late-write' })}.\r\n`);
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [554], JSON.stringify(replies));
    const line = gw.logs.find((l) => l.msg === REFUSED);
    assert.equal(line?.after, 'DATA');
    assert.match(String(line?.input), /^From: /);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(gw.sink.messages.length, 0);
  });

  it('a client that waits for the 354 is delivered', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(testMessage({ subject: 'waited' }));
    assert.equal(r.code, 250, r.text);
    await d.quit();
    await gw.sink.waitForText('Subject: waited');
  });
});

describe('commands written one by one while the RCPT hooks run', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { server: { greeting_delay: 0 }, plugins: [{ name: 'slow-data-start', module: SLOW_DATA_START, delay_ms: 300, hook: 'rcptTo' }] } });
  });
  after(async () => { await gw?.stop(); });

  it('RCPT, DATA and QUIT in separate writes: QUIT behind DATA gets 554 5.5.0 at once, and nothing goes unhandled', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    const started = Date.now();
    for (const line of ['RCPT TO:<user@example.com>', 'DATA', 'QUIT']) {
      d.write(`${line}\r\n`);
      await new Promise((r) => setTimeout(r, 30));
    }
    const replies = await repliesUntilClosed(d);
    assert.deepEqual(replies.map((r) => r.code), [250, 554], JSON.stringify(replies));
    assert.ok(Date.now() - started < 3_000, `closed after ${Date.now() - started} ms`);
    assert.equal(gw.logs.filter((l) => l.level === 'error').length, 0, JSON.stringify(gw.logs.filter((l) => l.level === 'error')));
  });
});

describe('the excerpt of early input in the log', () => {
  it('shows control bytes escaped and cuts at about 100 characters', () => {
    assert.equal(excerptOf('Subject: a\r\n\tb\x00\xff\\'), 'Subject: a\\r\\n\\tb\\x00\\xff\\\\');
    const long = excerptOf('y'.repeat(500));
    assert.equal(long, `${'y'.repeat(100)}…`);
  });

  it('never shows what follows an AUTH command', () => {
    const shown = excerptOf('MAIL FROM:<a@b>\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n');
    assert.equal(shown, 'MAIL FROM:<a@b>\\r\\nAUTH [not logged]');
    assert.equal(excerptOf('auth login\r\nYWxpY2U=\r\n'), 'AUTH [not logged]');
  });
});
