// The DSN extension (RFC 3461) end to end: a real gateway, and a real smtp-server as the next hop that offers DSN or not.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { simpleParser, type Attachment, type ParsedMail } from 'mailparser';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { greeted, testMessage, type SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { sleep, until } from './send.ts';

interface Got { mailFrom: string; mailArgs: Record<string, string | true>; rcpts: Array<{ address: string; args: Record<string, string | true> }>; raw: Buffer }

/** A next hop that records each envelope's parameters as smtp-server decoded them; it offers DSN only when told to. */
async function nextHop(offerDsn: boolean) {
  const got: Got[] = [];
  const refuse = new Map<string, number>();
  const server = new SMTPServer({
    hideDSN: !offerDsn, authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], disableReverseLookup: true, logger: false,
    onRcptTo(a, _s, cb) {
      const code = refuse.get(a.address);
      if (!code) return cb();
      const e = new Error(`${String(code)[0]}.1.1 refused by the test next hop`) as Error & { responseCode: number };
      e.responseCode = code;
      cb(e);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom as SMTPServerAddress;
        got.push({
          mailFrom: from.address, mailArgs: from.args || {},
          rcpts: session.envelope.rcptTo.map((r) => ({ address: r.address, args: r.args || {} })), raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, got, refuse, stop: () => new Promise<void>((r) => server.close(() => r())) };
}
type NextHop = Awaited<ReturnType<typeof nextHop>>;

const notices = (hop: NextHop) => hop.got.filter((g) => g.mailFrom === '');
const ofType = (m: ParsedMail, type: string) => m.attachments.find((a: Attachment) => a.contentType === type);
/**
 * The report's delivery-status part: mailparser folds it into `text`, so it is taken from the parts of the
 * multipart/report by the boundary mailparser read.
 */
function statusOf(m: ParsedMail, raw: Buffer): string {
  const ct = m.headers.get('content-type') as { value: string; params: Record<string, string> };
  assert.equal(ct.value, 'multipart/report');
  assert.equal(ct.params['report-type'], 'delivery-status');
  const part = raw.toString('utf8').split(`--${ct.params.boundary}`).find((p) => /^Content-Type: message\/(global-)?delivery-status/im.test(p.split('\r\n\r\n')[0]));
  assert.ok(part, 'a delivery-status part');
  return part.slice(part.indexOf('\r\n\r\n') + 4);
}
const notice = async (raw: Buffer) => { const m = await simpleParser(raw); return { m, status: statusOf(m, raw) }; };

async function send(port: number, mail: string, rcpts: string[], message: string | Buffer = testMessage({ subject: 'dsn test' })): Promise<{ d: SmtpDialog; replies: number[] }> {
  const { d, ehlo } = await greeted(port);
  assert.ok(ehlo.includes('DSN'), `EHLO offers DSN: ${ehlo.join(', ')}`);
  const replies = [(await d.cmd(`MAIL FROM:${mail}`)).code];
  for (const r of rcpts) replies.push((await d.cmd(`RCPT TO:${r}`)).code);
  replies.push((await d.data(message)).code);
  await d.quit();
  return { d, replies };
}

describe('queue: the DSN extension (RFC 3461)', function () {
  this.timeout(20_000);
  let hop: NextHop;
  let gw: TestGateway | undefined;
  /** A data_dir a test made itself: startGateway removes only the ones it makes. */
  let ownDataDir: string | undefined;

  afterEach(async () => {
    try {
      await gw?.stop(); gw = undefined; await hop.stop();
    } finally {
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
      ownDataDir = undefined;
    }
  });

  const start = async (offerDsn: boolean, queue: Record<string, unknown> = {}, dataDir?: string) => {
    hop = await nextHop(offerDsn);
    gw = await startGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${hop.port}`, queue: { retry_schedule: ['200ms'], lifetime: '1h', ...queue } } });
    return gw;
  };

  it('refuses malformed DSN parameters with 501 5.5.4', async () => {
    const g = await start(true);
    const { d } = await greeted(g.port);
    // An xtext that decodes to a control character is smtp-server's own refusal, a 501 too.
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> ENVID=a+09b')).code, 501);
    for (const bad of ['RET=SOME', `ENVID=${'x'.repeat(101)}`, 'ENVID=caf+C3+A9']) {
      const r = await d.cmd(`MAIL FROM:<a@client.example> ${bad}`);
      assert.equal(r.code, 501, bad);
      assert.match(r.text, /^5\.5\.4 /, bad);
    }
    assert.equal((await d.cmd('MAIL FROM:<a@client.example> RET=hdrs ENVID=ok')).code, 250);
    for (const bad of ['NOTIFY=SOMETIMES', 'NOTIFY=NEVER,FAILURE', 'ORCPT=no-semicolon', 'ORCPT=rfc822;']) {
      const r = await d.cmd(`RCPT TO:<u@example.com> ${bad}`);
      assert.equal(r.code, 501, bad);
      assert.match(r.text, /^5\.5\.4 /, bad);
    }
    assert.equal((await d.cmd('RCPT TO:<u@example.com> NOTIFY=failure,delay ORCPT=rfc822;u@example.com')).code, 250);
    await d.quit();
  });

  it('passes RET, ENVID, NOTIFY and ORCPT on to a next hop that offers DSN, xtext intact, and owes no notice itself', async () => {
    const g = await start(true);
    const { replies } = await send(g.port, '<alice@client.example> RET=HDRS ENVID=QQ+2B1+3Dx+20y', [
      '<one@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bone@example.com',
      '<two@example.com>',
    ]);
    assert.deepEqual(replies, [250, 250, 250, 250]);
    await until(() => hop.got.length === 1, 10_000, 'the relayed message');
    const [m] = hop.got;
    assert.equal(m.mailArgs.RET, 'HDRS');
    assert.equal(m.mailArgs.ENVID, 'QQ+1=x y');
    assert.equal(m.rcpts[0].args.NOTIFY, 'SUCCESS,FAILURE');
    assert.equal(m.rcpts[0].args.ORCPT, 'rfc822;orig+one@example.com');
    assert.deepEqual(m.rcpts[1].args, {});
    await sleep(500);
    assert.equal(notices(hop).length, 0, 'the next hop reports delivery now');
  });

  it('next hop without DSN: NOTIFY=SUCCESS gets a notice with Action: relayed, and nothing of DSN goes out', async () => {
    const g = await start(false);
    await send(g.port, '<alice@client.example> ENVID=env-42', [
      '<one@example.com> NOTIFY=SUCCESS ORCPT=rfc822;first@example.com',
      '<two@example.com>',
      '<three@example.com> NOTIFY=FAILURE',
    ]);
    await until(() => hop.got.length === 2, 10_000, 'the message and one notice');
    const original = hop.got.find((m) => m.mailFrom !== '')!;
    assert.equal(original.mailArgs.RET, undefined);
    assert.equal(original.mailArgs.ENVID, undefined);
    assert.ok(original.rcpts.every((r) => Object.keys(r.args).length === 0));
    const [n] = notices(hop);
    assert.deepEqual(n.rcpts.map((r) => r.address), ['alice@client.example']);
    const { m: parsed, status } = await notice(n.raw);
    assert.match(status, /^Original-Envelope-Id: env-42$/m);
    assert.match(status, /^Original-Recipient: rfc822; first@example\.com$/m);
    assert.match(status, /^Final-Recipient: rfc822; one@example\.com$/m);
    assert.match(status, /^Action: relayed$/m);
    assert.match(status, /^Status: 2\.\d\.\d$/m);
    assert.doesNotMatch(status, /two@|three@/);
    assert.ok(ofType(parsed, 'text/rfc822-headers'), 'headers returned, not the message');
    await sleep(400);
    assert.equal(notices(hop).length, 1);
  });

  it('failure notices follow NOTIFY: NEVER and lists without FAILURE silence them; ORCPT becomes Original-Recipient', async () => {
    const g = await start(false);
    for (const a of ['never@example.com', 'delayonly@example.com', 'failure@example.com', 'plain@example.com']) hop.refuse.set(a, 550);
    await send(g.port, '<alice@client.example>', [
      '<never@example.com> NOTIFY=NEVER', '<delayonly@example.com> NOTIFY=DELAY,SUCCESS',
      '<failure@example.com> NOTIFY=FAILURE ORCPT=rfc822;boss@example.com', '<plain@example.com>', '<fine@example.com> NOTIFY=NEVER',
    ]);
    await until(() => notices(hop).length === 1, 10_000, 'one failure notice');
    const { status } = await notice(notices(hop)[0].raw);
    const finals = [...status.matchAll(/^Final-Recipient: rfc822; (\S+)$/gm)].map((x) => x[1]);
    assert.deepEqual(finals, ['failure@example.com', 'plain@example.com']);
    assert.match(status, /^Original-Recipient: rfc822; boss@example\.com\r?\nFinal-Recipient: rfc822; failure@example\.com$/m);
    assert.equal([...status.matchAll(/^Original-Recipient:/gm)].length, 1);
    assert.doesNotMatch(status, /Original-Envelope-Id/);
    await until(() => g.logs.some((l) => l.msg === 'permanent failure: moved to dead-letter'), 5000, 'dead-letter');
    await sleep(400);
    assert.equal(notices(hop).length, 1, 'no other notice (fine@ was delivered, and NOTIFY=NEVER asked for nothing)');
  });

  it('delay notices follow NOTIFY: only recipients that asked for DELAY, or gave no NOTIFY, are listed', async () => {
    const g = await start(false, { bounces: { delay_notices: 'once', delay_after: '300ms' } });
    for (const a of ['s1@example.com', 's2@example.com', 's3@example.com', 's4@example.com']) hop.refuse.set(a, 451);
    await send(g.port, '<bob@client.example>', ['<s1@example.com> NOTIFY=FAILURE', '<s2@example.com> NOTIFY=DELAY,FAILURE', '<s3@example.com> NOTIFY=NEVER', '<s4@example.com>']);
    await until(() => notices(hop).length === 1, 10_000, 'a delay notice');
    const { status } = await notice(notices(hop)[0].raw);
    assert.deepEqual([...status.matchAll(/^Final-Recipient: rfc822; (\S+)$/gm)].map((x) => x[1]), ['s2@example.com', 's4@example.com']);
    assert.match(status, /^Action: delayed$/m);

    // Nobody left who wants one: no delay notice at all.
    hop.got.length = 0;
    await send(g.port, '<carol@client.example>', ['<s1@example.com> NOTIFY=FAILURE', '<s3@example.com> NOTIFY=NEVER']);
    await until(() => g.logs.filter((l) => l.msg === 'deferred' && Array.isArray(l.to) && (l.to as string[]).length === 2).length >= 4, 10_000, 'retries past delay_after');
    assert.equal(notices(hop).length, 0);
  });

  it('RET=FULL returns the whole message as message/rfc822 up to 50,000 bytes, else the headers with a note; RET=HDRS the headers', async () => {
    const g = await start(false);
    hop.refuse.set('gone@example.com', 550);
    const small = testMessage({ subject: 'small full', body: 'Body line one.\r\n.dotted line\r\nthe end\r\n' });
    await send(g.port, '<full@client.example> RET=FULL', ['<gone@example.com>'], small);
    const big = testMessage({ subject: 'big full', body: 'x'.repeat(76).concat('\r\n').repeat(800) });
    await send(g.port, '<big@client.example> RET=FULL', ['<gone@example.com>'], big);
    await send(g.port, '<hdrs@client.example> RET=HDRS', ['<gone@example.com>'], testMessage({ subject: 'hdrs only' }));
    await until(() => notices(hop).length === 3, 10_000, 'three failure notices');
    const by = (who: string) => simpleParser(notices(hop).find((n) => n.rcpts[0].address === who)!.raw);

    const full = await by('full@client.example');
    const returned = ofType(full, 'message/rfc822');
    assert.ok(returned, 'the message came back whole');
    const inner = await simpleParser(returned.content);
    assert.equal(inner.subject, 'small full');
    assert.equal(inner.text, 'Body line one.\n.dotted line\nthe end\n');
    assert.ok(inner.headers.has('received'), 'as it left: with our Received');
    assert.ok(!ofType(full, 'text/rfc822-headers'));

    const bigNotice = await by('big@client.example');
    assert.ok(!ofType(bigNotice, 'message/rfc822'));
    assert.match(ofType(bigNotice, 'text/rfc822-headers')!.content.toString(), /^Subject: big full$/m);
    assert.match(bigNotice.text ?? '', /larger than 50000 bytes: only its headers/);

    const hdrs = await by('hdrs@client.example');
    assert.ok(!ofType(hdrs, 'message/rfc822'));
    assert.match(ofType(hdrs, 'text/rfc822-headers')!.content.toString(), /^Subject: hdrs only$/m);
  });

  it('RET=FULL of SMTPUTF8 mail returns it as message/global', async () => {
    const g = await start(false);
    hop.refuse.set('gone@example.com', 550);
    const msg = Buffer.from(testMessage({ subject: 'Grüße aus Köln', body: 'Schöne Grüße.\r\n' }), 'utf8');
    await send(g.port, '<jörg@client.example> SMTPUTF8 RET=FULL', ['<gone@example.com>'], msg);
    await until(() => notices(hop).length === 1, 10_000, 'a failure notice');
    const parsed = await simpleParser(notices(hop)[0].raw);
    const returned = ofType(parsed, 'message/global');
    assert.ok(returned, `message/global part among ${parsed.attachments.map((a) => a.contentType).join(', ')}`);
    const inner = await simpleParser(returned.content);
    assert.equal(inner.subject, 'Grüße aus Köln');
  });

  it('an entry queued before DSN (no DSN fields in its JSON) still delivers, with no DSN parameters', async () => {
    const dataDir = ownDataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-dsn-old-'));
    mkdirSync(path.join(dataDir, 'queue'), { recursive: true });
    const id = '00000000000oldq';
    const message = testMessage({ subject: 'from an older version' });
    writeFileSync(path.join(dataDir, 'queue', `${id}.eml`), message);
    const now = Date.now();
    writeFileSync(path.join(dataDir, 'queue', `${id}.json`), JSON.stringify({
      id, mailFrom: 'old@client.example', recipients: [{ address: 'old@example.com', status: 'pending' }], prepend: '', remove: [],
      receivedAt: now - 60_000, size: message.length, client: { ip: '192.0.2.1', helo: 'old.example' }, authenticated: false,
      attempts: 1, nextAttemptAt: now, history: [{ at: now - 30_000, result: 'old@example.com: 451 4.3.0 later' }],
    }));
    const g = await start(true, {}, dataDir);
    await until(() => hop.got.length === 1, 10_000, 'the old entry delivered');
    assert.equal(hop.got[0].mailFrom, 'old@client.example');
    assert.deepEqual(hop.got[0].mailArgs.RET, undefined);
    assert.deepEqual(hop.got[0].rcpts, [{ address: 'old@example.com', args: {} }]);
    assert.match(hop.got[0].raw.toString(), /^Subject: from an older version$/m);
    await until(() => g.logs.some((l) => l.msg === 'delivered'), 5000, 'logged as delivered');
  });
});
