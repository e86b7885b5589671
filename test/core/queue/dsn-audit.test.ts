// Notices checked as a receiving mail system would see them: parsed with mailparser and Python's email package
// (which lists the defects it finds), for SMTPUTF8 originals, oversized and hostile input, and non-SMTP failures.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost, type ReceivedMessage } from '../../helpers/smarthost.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { buildDsn } from '../../../core/queue/dsn.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';

const isDsn = (m: ReceivedMessage) => m.mailFrom === '' && /multipart\/report; report-type=delivery-status/.test(m.raw.toString());

/** What Python's email package makes of a message: its parts' types and every defect it noticed. */
function pythonView(raw: Buffer): { types: string[]; defects: string[] } {
  const script = [
    'import email, sys, json',
    'from email import policy',
    'm = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)',
    'print(json.dumps({"types": [p.get_content_type() for p in m.walk()],',
    '  "defects": [p.get_content_type() + ": " + repr(d) for p in m.walk() for d in p.defects]}))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script], { input: raw, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** RFC 5321 §4.5.3.1.6: no line of a message over 998 octets. */
function longLines(raw: Buffer): number[] {
  const out: number[] = [];
  let start = 0;
  for (let i = raw.indexOf('\r\n'); i >= 0; i = raw.indexOf('\r\n', start)) { if (i - start > 998) out.push(i - start); start = i + 2; }
  return out;
}

const partOf = (raw: Buffer, type: string): string => {
  const text = raw.toString('utf8');
  const at = text.indexOf(`Content-Type: ${type}`);
  assert.ok(at >= 0, `a ${type} part`);
  const body = text.indexOf('\r\n\r\n', at) + 4;
  return text.slice(body, text.indexOf('\r\n--=_mailmoat_', body));
};

async function send(port: number, from: string, to: string, message: Buffer, smtputf8 = false): Promise<number> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd(`MAIL FROM:<${from}>${smtputf8 ? ' SMTPUTF8' : ''}`)).code, 250);
    assert.equal((await d.cmd(`RCPT TO:<${to}>`)).code, 250);
    return (await d.data(message)).code;
  } finally { await d.quit(); }
}

describe('queue: notices as receivers parse them', function () {
  this.timeout(30_000);
  let sink: Smarthost;
  let gw: TestGateway | undefined;
  let refuser: SMTPServer | undefined;

  beforeEach(async () => { sink = await startSmarthost(); });
  afterEach(async () => {
    await gw?.stop(); gw = undefined;
    await sink.stop();
    if (refuser) await new Promise<void>((r) => refuser!.close(() => r()));
    refuser = undefined;
  });

  const start = (config: Record<string, unknown> = {}) => startGateway({
    config: { smarthost: `smtp://127.0.0.1:${sink.port}`, queue: { retry_schedule: ['300ms'], lifetime: '1h' }, ...config },
  }).then((g) => { gw = g; return g; });

  it('an SMTPUTF8 original: global report types, UTF-8 text as written, a reply to its Message-ID, no parser defects', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    const g = await start();
    const original = Buffer.from([
      'From: Jörg <jörg@client.example>', 'To: bad@example.com', 'Subject: Grüße aus Köln',
      'Message-ID: <orig-1@client.example>', 'Date: Mon, 2 Nov 2026 10:00:00 +0000', '', 'Hallo.', '',
    ].join('\r\n'), 'utf8');
    assert.equal(await send(g.port, 'jörg@client.example', 'bad@example.com', original, true), 250);
    const [dsn] = await sink.waitFor(1, 10_000);
    assert.ok(isDsn(dsn));
    assert.deepEqual(dsn.rcptTo, ['jörg@client.example']);
    const parsed: ParsedMail = await simpleParser(dsn.raw);
    assert.match(parsed.text ?? '', /subject "Grüße aus Köln"/, 'the original subject as the sender wrote it');
    assert.equal(parsed.inReplyTo, '<orig-1@client.example>');
    assert.deepEqual([parsed.references].flat(), ['<orig-1@client.example>']);
    assert.equal(parsed.headers.get('auto-submitted'), 'auto-replied');
    const py = pythonView(dsn.raw);
    assert.deepEqual(py.defects, []);
    assert.ok(py.types.includes('message/global-headers'), py.types.join(' '));
    const raw = dsn.raw.toString('utf8');
    assert.match(raw, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
    assert.match(raw, /^Content-Type: message\/global-delivery-status$/m);
    assert.match(raw, /^X-Mailmoat-Sender: utf-8; jörg@client\.example$/m);
    assert.match(partOf(dsn.raw, 'message/global-headers'), /^Subject: Grüße aus Köln$/m);
  });

  it('an ASCII original gets the plain report types, its encoded Subject decoded for the human part', async () => {
    sink.rcptReplies.set('bad@example.com', 550);
    const g = await start();
    const original = Buffer.from('From: a@client.example\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <orig-2@client.example>\r\n\r\nHi.\r\n');
    assert.equal(await send(g.port, 'a@client.example', 'bad@example.com', original), 250);
    const [dsn] = await sink.waitFor(1, 10_000);
    const parsed = await simpleParser(dsn.raw);
    assert.match(parsed.text ?? '', /subject "Grüße"/);
    const raw = dsn.raw.toString('utf8');
    assert.match(raw, /^Content-Type: message\/delivery-status$/m);
    assert.match(raw, /^Content-Type: text\/rfc822-headers$/m);
    assert.match(raw, /^Final-Recipient: rfc822; bad@example\.com$/m);
    assert.match(raw, /^X-Mailmoat-Sender: rfc822; a@client\.example$/m);
    assert.deepEqual(pythonView(dsn.raw).defects, []);
  });

  it('huge headers and a hostile remote reply: 50,000 bytes of headers at most, said so, no line over 998 octets, no injected field', async () => {
    // A server whose refusal is long, non-ASCII and full of control characters.
    const hostile = '5.1.1 ' + 'ü'.repeat(700) + ' \x1b[31mred\x00 end';
    refuser = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, disableReverseLookup: true,
      onRcptTo(addr, _s, cb) {
        if (addr.address !== 'bad@example.com') return cb();
        const e = new Error(hostile) as Error & { responseCode: number }; e.responseCode = 550; cb(e);
      },
      onData(stream, _s, cb) { stream.resume(); stream.on('end', () => cb()); },
    });
    await new Promise<void>((r) => refuser!.listen(0, '127.0.0.1', () => r()));
    const refuserPort = (refuser as unknown as { server: { address(): { port: number } } }).server.address().port;
    const g = await start({ routes: { 'example.com': `smtp://127.0.0.1:${refuserPort}` } });
    const filler = Array.from({ length: 1500 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(60)}`);
    const original = Buffer.from([
      'From: a@client.example', 'Subject: evil\u0000 subject', `X-Long: ${'L'.repeat(3000)}`, ...filler,
      'Message-ID: <orig-3@client.example>', '', 'Hi.', '',
    ].join('\r\n'), 'latin1');
    assert.equal(await send(g.port, 'a@client.example', 'bad@example.com', original), 250);
    const [dsn] = await sink.waitFor(1, 10_000);
    assert.deepEqual(longLines(dsn.raw), [], 'no line beyond 998 octets');
    assert.doesNotMatch(dsn.raw.toString('latin1'), /[\x00\x1b]/, 'no control characters from the remote reply or the original');
    const headers = partOf(dsn.raw, 'text/rfc822-headers');
    assert.ok(Buffer.byteLength(headers) <= 50_000, `${Buffer.byteLength(headers)} bytes of headers`);
    assert.match(headers, /^Received: /);
    assert.match(headers, /\r\nX-Filler-\d+: f+\r\n$/, 'cut at the end of a field');
    const parsed = await simpleParser(dsn.raw);
    assert.match(parsed.text ?? '', /cut/i, 'the notice says the headers were cut');
    const status = partOf(dsn.raw, 'message/global-delivery-status');
    assert.match(status, /^Diagnostic-Code: smtp; 550 5\.1\.1 ü+/m);
    assert.match(status, /^Status: 5\.1\.1$/m);
    assert.deepEqual(pythonView(dsn.raw).defects, []);
  });

  it('a failure that is no SMTP reply gets a diagnostic of its own type, not smtp', () => {
    const entry: QueueEntry = {
      id: 'Q1', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now() - 3_600_000,
      size: 10, client: { ip: '192.0.2.1' }, authenticated: false, attempts: 3, nextAttemptAt: 0, history: [{ at: Date.now(), result: '' }],
    };
    const delay = buildDsn({
      kind: 'delay', entry, hostname: 'mx.test.example', postmaster: 'postmaster@mx.test.example', originalHeaders: 'Subject: x\r\n',
      recipients: [{ address: 'slow@example.com', status: 'pending', reply: 'connect ECONNREFUSED 192.0.2.9:25' }], retryUntil: Date.now() + 86_400_000,
    }).data.toString();
    assert.match(delay, /^Diagnostic-Code: X-Mailmoat; connect ECONNREFUSED 192\.0\.2\.9:25$/m);
    assert.match(delay, /^Status: 4\.4\.0$/m);
    const failure = buildDsn({
      kind: 'failure', entry, hostname: 'mx.test.example', postmaster: 'postmaster@mx.test.example', originalHeaders: 'Subject: x\r\n',
      recipients: [{ address: 'slow@example.com', status: 'failed', reply: 'delivery time expired' }],
    }).data.toString();
    assert.match(failure, /^Diagnostic-Code: X-Mailmoat; delivery time expired$/m);
    assert.doesNotMatch(failure + delay, /^Remote-MTA:/m, 'no server answered: none is named');
    assert.match(failure, /^Status: 5\.4\.7$/m);
    assert.doesNotMatch(failure, /^In-Reply-To:/m, 'no reference without a Message-ID');
  });
});
