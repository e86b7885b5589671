// A Postfix admin finds a message in the log by the Message-ID a user quotes (`grep '<id@host>'`): the `message`
// summary line and the queue's delivery lines of a spawned `moat start` carry it, bounded and escaped, and a message
// without one still gets its lines.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { sendMail, until } from '../queue/send.ts';
import { MESSAGE_ID_MAX } from '../../../core/smtp/logged-message-id.ts';

const run = promisify(execFile);
const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

type Line = Record<string, unknown> & { msg: string };

const rawLines = (gw: SpawnedGateway) => gw.output.join('').split('\n').filter((l) => l !== '');
const lines = (gw: SpawnedGateway): Line[] => rawLines(gw).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
/** What `grep -F ID` on the gateway's log finds: the messages of the lines that hold the ID as written. */
const grep = (gw: SpawnedGateway, id: string) => rawLines(gw).filter((l) => l.includes(id)).map((l) => (JSON.parse(l) as Line).msg);

/** One message over a raw dialog, its bytes as given (a header section of our choosing); returns the queue id. */
async function sendRaw(port: number, message: Buffer, xclient?: string): Promise<string> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    if (xclient) {
      assert.equal((await d.cmd(`XCLIENT ${xclient}`)).code, 220);
      await d.cmd('EHLO client.test');
    }
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<ok@example.com>')).code, 250);
    const r = await d.data(message);
    assert.equal(r.code, 250, r.text);
    return /queued as (\S+)/.exec(r.text)![1];
  } finally {
    await d.quit();
  }
}

describe('the Message-ID on the log lines of a message', function () {
  this.timeout(60_000);
  let sink: Smarthost;
  let gw: SpawnedGateway;
  const byQid = (qid: string) => lines(gw).filter((l) => l.qid === qid);

  before(async () => {
    sink = await startSmarthost();
    sink.rcptReplies.set('later@example.com', 451);
    gw = await spawnGateway({ config: { smarthost: { url: `smtp://127.0.0.1:${sink.port}` }, queue: { retry_schedule: ['1h'] }, limits: { max_message_size: '40KB' } } });
  });
  after(async () => {
    await gw?.kill();
    await sink?.stop();
  });

  it('finds the summary line and the delivered line by grepping the ID', async () => {
    const id = '<20240611.grep-me.7f3a@client.example>';
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: ['ok@example.com'], headers: { 'Message-ID': `  ${id}  ` } });
    assert.equal(sent.code, 250);
    await until(() => byQid(sent.queueId!).some((l) => l.msg === 'delivered'), 10_000, 'the delivery');
    assert.deepEqual(grep(gw, id).sort(), ['delivered', 'message']);
    for (const l of byQid(sent.queueId!).filter((x) => x.msg === 'message' || x.msg === 'delivered')) assert.equal(l.message_id, id, l.msg);
  });

  it('carries it on the deferred line and in `moat queue show`', async () => {
    const id = '<deferred.42@client.example>';
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: ['later@example.com'], headers: { 'Message-ID': id } });
    await until(() => byQid(sent.queueId!).some((l) => l.msg === 'deferred'), 10_000, 'the deferral');
    assert.deepEqual(grep(gw, id).sort(), ['deferred', 'message']);
    const shown = (await run(process.execPath, [MOAT, 'queue', 'show', sent.queueId!, '--config', gw.configFile], { timeout: 20_000 })).stdout;
    assert.match(shown, /^message-id: <deferred\.42@client\.example>$/m);
  });

  it('logs a hostile Message-ID (10 KB, control characters, a bare CR and LF) as one bounded, escaped value', async () => {
    const before = rawLines(gw).length;
    const value = `<${'\x1b[2J\x07\x7f\u0085\u2028'}${'x'.repeat(10_000)}@evil.example>`;
    // A bare CR and LF after the ID: the spool makes them line ends, so what follows is a line of its own in the
    // header section (not a field), never part of the logged value.
    const headers = `From: a@client.example\r\nTo: ok@example.com\r\nSubject: hostile\r\nMessage-ID: ${value}\r{"msg":"forged"}\nINFO forged line\r\n`;
    const qid = await sendRaw(gw.port, Buffer.from(`${headers}\r\nHello.\r\n`, 'utf8'));
    await until(() => byQid(qid).some((l) => l.msg === 'delivered'), 10_000, 'the delivery');
    const added = rawLines(gw).slice(before);
    // Every line written since is one whole JSON record: nothing the client sent started a line.
    for (const l of added) assert.ok(l.startsWith('{') && JSON.parse(l), l.slice(0, 200));
    assert.ok(!added.some((l) => l.includes('"msg":"forged"')), 'a forged record');
    const summary = byQid(qid).find((l) => l.msg === 'message')!;
    const logged = summary.message_id as string;
    assert.equal(logged.length, MESSAGE_ID_MAX);
    // Written out, as `moat queue show` shows them: JSON lines would leave DEL, C1 and U+2028 raw for a terminal.
    assert.ok(logged.startsWith(String.raw`<\x1b[2J\x07\x7f\x85\u2028xxx`) && logged.endsWith('x…'), JSON.stringify(logged.slice(0, 30)));
    assert.ok(!/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(added.join('')), 'a raw control character on a line');
    assert.equal(byQid(qid).find((l) => l.msg === 'delivered')!.message_id, logged);
  });

  it('leaves the field out for a message without one, and logs the one it adds to an authenticated sender\'s', async () => {
    const bare = Buffer.from('From: a@client.example\r\nTo: ok@example.com\r\nSubject: no id\r\n\r\nHello.\r\n');
    const qid = await sendRaw(gw.port, bare);
    await until(() => byQid(qid).some((l) => l.msg === 'delivered'), 10_000, 'the delivery');
    for (const l of byQid(qid)) assert.ok(!('message_id' in l), l.msg);

    // XCLIENT LOGIN makes the session a user's, as a submission proxy does: the gateway then adds a Message-ID.
    const submitted = await sendRaw(gw.port, Buffer.from('From: a@client.example\r\nTo: ok@example.com\r\nSubject: submitted\r\n\r\nHi.\r\n'), 'ADDR=192.0.2.10 LOGIN=alice');
    const raw = await sink.waitForText('Subject: submitted');
    const added = /^Message-ID: (<[^>]+>)\r$/m.exec(raw)?.[1] ?? '';
    assert.ok(added.startsWith(`<${submitted}.`), raw.slice(0, 500));
    await until(() => byQid(submitted).some((l) => l.msg === 'delivered'), 10_000, 'the delivery');
    assert.deepEqual(grep(gw, added).sort(), ['delivered', 'message']);
  });

  it('carries it on the summary of a message refused for its size, whose header section alone was read', async () => {
    const id = '<too-big.9@client.example>';
    const sent = await sendMail(gw.port, { from: 'a@client.example', to: ['ok@example.com'], headers: { 'Message-ID': id }, body: 'x'.repeat(60_000) });
    assert.equal(sent.code, 552);
    await until(() => grep(gw, id).length > 0, 10_000, 'the summary');
    const summary = lines(gw).find((l) => l.msg === 'message' && l.message_id === id);
    assert.equal(summary?.verdict, 'reject');
  });

  it('decodes an SMTPUTF8 Message-ID from its UTF-8 bytes, so a grep for it matches', async () => {
    const id = '<grüße.1@bücher.example>';
    const message = Buffer.from(testMessage({ headers: { 'Message-ID': id } }), 'utf8');
    const d = await SmtpDialog.connect(gw.port);
    let qid: string;
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<a@client.example> SMTPUTF8')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<ok@example.com>')).code, 250);
      const r = await d.data(message);
      qid = /queued as (\S+)/.exec(r.text)![1];
    } finally {
      await d.quit();
    }
    await until(() => byQid(qid).some((l) => l.msg === 'message'), 10_000, 'the summary');
    assert.equal(byQid(qid).find((l) => l.msg === 'message')!.message_id, id);
  });
});
