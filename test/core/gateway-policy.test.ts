// End to end: AUTH only over TLS, submission, limits, access lists, XCLIENT trust, plugin failures, verdict actions.
import assert from 'node:assert/strict';
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { startGateway, startRelayingGateway, type RelayingGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../helpers/smtp-dialog.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { UsersFile } from '../../core/auth/users-file.ts';
import { outgoingStream } from '../../core/relay/outgoing-stream.ts';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'plugins', 'test-behaviour.ts');
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

async function send(port: number, opts: { subject?: string; headers?: Record<string, string>; from?: string; to?: string[] } = {}) {
  const c = await SmtpDialog.connect(port);
  await c.hello();
  const m = await c.cmd(`MAIL FROM:<${opts.from ?? 'a@client.example'}>`);
  if (m.code !== 250) { await c.quit(); return m; }
  for (const to of opts.to ?? ['user@example.com']) await c.cmd(`RCPT TO:<${to}>`);
  const r = await c.data(testMessage({ subject: opts.subject, headers: opts.headers }));
  await c.quit();
  return r;
}

describe('AUTH and TLS', () => {
  let gw: TestGateway;
  let subPort: number;
  before(async () => {
    gw = await startGateway({ config: { server: { submission_listen: ['127.0.0.1:0'] } } });
    subPort = gw.gateway.port('submission');
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 's3cret-pw');
  });
  after(() => gw.stop());

  it('does not offer AUTH before STARTTLS and refuses it there', async () => {
    const c = await SmtpDialog.connect(gw.port);
    const ehlo = await c.hello();
    assert.ok(!ehlo.lines.some((l) => l.startsWith('AUTH')), ehlo.text);
    assert.ok(ehlo.lines.includes('STARTTLS'));
    const r = await c.cmd(`AUTH PLAIN ${plain('alice', 's3cret-pw')}`);
    assert.equal(r.code, 538);
    await c.quit();
  });

  it('accepts AUTH after STARTTLS, and then relays to foreign domains', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    assert.equal((await c.starttls()).code, 220);
    const ehlo = await c.cmd('EHLO client.test');
    assert.ok(ehlo.lines.some((l) => l.startsWith('AUTH PLAIN LOGIN')), ehlo.text);
    assert.equal((await c.cmd(`AUTH PLAIN ${plain('alice', 'wrong')}`)).code, 535);
    assert.equal((await c.cmd(`AUTH PLAIN ${plain('alice', 's3cret-pw')}`)).code, 235);
    await c.cmd('MAIL FROM:<alice@example.com>');
    assert.equal((await c.cmd('RCPT TO:<bob@foreign.example>')).code, 250);
    const r = await c.data('Subject: no id or date\r\n\r\nhi\r\n');
    assert.equal(r.code, 250);
    await c.quit();
    await gw.gateway.runtime.delivery.idle();
    const [file] = readdirSync(path.join(gw.dataDir, 'delivered'));
    const out = readFileSync(path.join(gw.dataDir, 'delivered', file), 'utf8');
    assert.match(out, /^Message-ID: </m);
    assert.match(out, /^Date: /m);
    assert.match(out, /with ESMTPSA id/);
  });

  it('requires AUTH on the submission listener', async () => {
    const c = await SmtpDialog.connect(subPort);
    await c.hello();
    const r = await c.cmd('MAIL FROM:<x@example.com>');
    assert.equal(r.code, 530);
    await c.quit();
  });
});

describe('limits and access lists', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: {
      limits: { max_recipients: 3, max_connections_per_ip: 2, max_errors: 3, error_block: '2s' },
      access: { deny_ips: ['192.0.2.66'], helo_deny: ['^bad\\.'], blocked_recipients: ['blocked@example.com', '@spamtrap.example.com'] },
      domains: ['example.com', 'spamtrap.example.com'],
    } });
  });
  after(() => gw.stop());

  it('answers 452 past max_recipients', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@client.example>');
    for (const n of [1, 2, 3]) assert.equal((await c.cmd(`RCPT TO:<u${n}@example.com>`)).code, 250);
    const r = await c.cmd('RCPT TO:<u4@example.com>');
    assert.equal(r.code, 452);
    await c.quit();
  });

  it('refuses a third connection from one IP with 421', async () => {
    // Its own gateway without a trusted proxy: a proxy's connections are not limited per address (each client it
    // names is, test/core/smtp/xclient-counting.test.ts), and this one's clients are all 127.0.0.1.
    const direct = await startGateway({ config: { server: { trusted_proxies: [] }, limits: { max_connections_per_ip: 2 } } });
    try {
      const a = await SmtpDialog.connect(direct.port);
      const b = await SmtpDialog.connect(direct.port);
      assert.equal((await a.read()).code, 220);
      assert.equal((await b.read()).code, 220);
      const c = await SmtpDialog.connect(direct.port);
      assert.equal((await c.read()).code, 421);
      await a.quit(); await b.quit(); await c.quit();
    } finally { await direct.stop(); }
  });

  it('refuses blocked recipients, denied IPs (and keeps refusing), and HELO patterns', async () => {
    let c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal((await c.cmd('RCPT TO:<blocked@example.com>')).code, 550);
    assert.equal((await c.cmd('RCPT TO:<any@spamtrap.example.com>')).code, 550);
    await c.quit();

    c = await SmtpDialog.connect(gw.port);
    await c.read();
    await c.cmd('EHLO proxy.test');
    const x = await c.cmd('XCLIENT ADDR=192.0.2.66 NAME=[UNAVAILABLE]');
    assert.equal(x.code, 554);
    assert.equal((await c.cmd('EHLO again.test')).code, 554);
    assert.equal((await c.cmd('QUIT')).code, 221);

    c = await SmtpDialog.connect(gw.port);
    await c.read();
    const h = await c.cmd('EHLO bad.example');
    assert.equal(h.code, 554);
    await c.quit();
  });

  it('disconnects after max_errors and blocks the IP for error_block', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello({ xclient: { addr: '198.51.100.7' } });
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal((await c.cmd('RCPT TO:<x@foreign1.example>')).code, 554);
    assert.equal((await c.cmd('RCPT TO:<x@foreign2.example>')).code, 554);
    assert.equal((await c.cmd('RCPT TO:<x@foreign3.example>')).code, 554, 'the refusal that reaches the limit, as it is');
    assert.equal((await c.cmd('RCPT TO:<x@foreign4.example>')).code, 421);
    await c.quit();
  });

  it('ignores XCLIENT from an address that is not a trusted proxy', async () => {
    const gw2 = await startGateway({ config: { server: { trusted_proxies: ['10.9.9.9/32'] } } });
    try {
      const c = await SmtpDialog.connect(gw2.port);
      await c.read();
      const e = await c.cmd('EHLO client.test');
      assert.ok(!e.lines.some((l) => l.startsWith('XCLIENT')));
      assert.ok((await c.cmd('XCLIENT ADDR=203.0.113.5')).code >= 500);
      await c.quit();
    } finally { await gw2.stop(); }
  });
});

describe('a plugin\'s disconnect outcome', () => {
  const gateways: TestGateway[] = [];
  after(async () => { await Promise.all(gateways.map((g) => g.stop())); });
  const gatewayAt = async (phase: string) => {
    const gw = await startGateway({ config: { plugins: [{ name: 'test-behaviour', module: FIXTURE, phase }] } });
    gateways.push(gw);
    return gw;
  };
  const closedSoon = (c: SmtpDialog) => waitFor('the gateway to close the connection', () => c.closed || undefined, 3000);

  it('at RCPT and MAIL gives its own 5xx, or 421 for a 4xx, with its enhanced code, then ends the connection', async () => {
    for (const [phase, from, want] of [
      ['rcptTo', 'please-disconnect-for-good@example.org', /^550 5\.7\.1 Go away$/],
      ['mailFrom', 'please-disconnect-for-now@example.org', /^421 4\.7\.1 Later$/],
    ] as const) {
      const gw = await gatewayAt(phase);
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      const mail = await c.cmd(`MAIL FROM:<${from}>`);
      const r = phase === 'rcptTo' ? await c.cmd('RCPT TO:<user@example.com>') : mail;
      assert.match(`${r.code} ${r.text}`, want, phase);
      assert.ok(await closedSoon(c), `${phase}: the connection is ended after the reply`);
    }
  });

  it('at DATA answers a 4xx as 421, the code that says the connection closes, and logs that reply', async () => {
    const gw = await gatewayAt('data');
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@example.org>');
    await c.cmd('RCPT TO:<user@example.com>');
    const r = await c.data(testMessage({ subject: 'please-disconnect-for-now' }));
    assert.equal(`${r.code} ${r.text}`, '421 4.7.1 Later');
    assert.ok(await closedSoon(c), 'the connection is ended after the reply');
    assert.ok(gw.logs.some((l) => l.msg === 'message' && l.verdict === 'tempfail' && l.reply === '421 4.7.1 Later'));
  });
});

describe('a subject tag that is not ASCII', () => {
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      plugins: [{ name: 'test-behaviour', module: FIXTURE }],
      scores: { add_header: 5, subject_tag: '[СПАМ]' },
    } });
  });
  after(() => gw.stop());

  it('reaches the mailbox readable, before a plain subject and before an encoded one', async () => {
    const { simpleParser } = await import('mailparser');
    for (const [subject, shown] of [['tag me', '[СПАМ] tag me'], ['=?UTF-8?B?0J/RgNC40LLQtdGC?=', '[СПАМ] Привет']]) {
      gw.sink.messages.length = 0;
      assert.equal((await send(gw.port, { subject, headers: { 'X-Test-Score': '6' } })).code, 250);
      const [m] = await gw.sink.waitFor(1);
      assert.equal((await simpleParser(m.raw)).subject, shown);
    }
  });
});

describe('plugin failures and verdicts', () => {
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      plugins: [{ name: 'test-behaviour', module: FIXTURE, timeout: '300ms' }],
      scores: { add_header: 5, quarantine: 10, reject: 15, subject_tag: '[SPAM]' },
      // Room for the 1.3 MB header section below (the default limits.max_header_size, 256 KB, refuses it).
      limits: { max_header_size: '2MB' },
    } });
  });
  after(() => gw.stop());
  beforeEach(() => { gw.sink.messages.length = 0; });

  it('a plugin that throws gives a tempfail, and the next message passes', async () => {
    const r = await send(gw.port, { subject: 'please-throw' });
    assert.equal(r.code, 451);
    assert.ok(gw.logs.some((l) => l.msg === 'plugin threw' && l.plugin === 'test-behaviour'));
    assert.equal((await send(gw.port, { subject: 'fine' })).code, 250);
  });

  it('a plugin that hangs gives a tempfail after its timeout, and the next message passes', async () => {
    const r = await send(gw.port, { subject: 'please-hang' });
    assert.equal(r.code, 451);
    assert.ok(gw.logs.some((l) => l.msg === 'plugin timed out'));
    assert.equal((await send(gw.port, { subject: 'fine again' })).code, 250);
  });

  it('drops what a plugin adds or rewrites after its timeout, when the client already has its 451', async () => {
    const r = await send(gw.port, { subject: 'please-finish-late' });
    assert.equal(r.code, 451);
    await new Promise((res) => setTimeout(res, 800));
    assert.ok(gw.logs.some((l) => l.msg === 'change after the plugin timed out ignored' && l.plugin === 'test-behaviour' && l.change === 'addFinding'));
    assert.ok(gw.logs.some((l) => l.msg === 'late rewrite refused' && /timed out/.test(String(l.error))));
    assert.deepEqual(readdirSync(path.join(gw.dataDir, 'queue')), [], 'no spool file of the answered transaction is left');
  });

  it('an infinite finding score counts as a certain one (±1000), not as nothing', async () => {
    const r = await send(gw.port, { subject: 'certain', headers: { 'X-Test-Score': 'Infinity' } });
    assert.equal(r.code, 550, r.text);
    assert.ok(gw.logs.some((l) => l.msg === 'message' && l.verdict === 'reject' && (l.symbols as string[]).includes('TEST_SCORE(1000)')));
    assert.equal((await send(gw.port, { subject: 'trusted', headers: { 'X-Test-Score': '-Infinity' } })).code, 250);
  });

  it('a plugin reject outcome gives its own code', async () => {
    const r = await send(gw.port, { subject: 'please-reject' });
    assert.equal(r.code, 554);
    assert.match(r.text, /^5\.7\.9 Refused by test plugin/);
  });

  it('scores map to accept with headers, quarantine and reject', async () => {
    assert.equal((await send(gw.port, { subject: 'tag me', headers: { 'X-Test-Score': '6', 'X-Remove-Me': 'gone' } })).code, 250);
    const [m] = await gw.sink.waitFor(1);
    const text = m.raw.toString();
    assert.match(text, /X-Mailmoat-Verdict: add_header; score=6; required=15; level=Low; symbols=TEST_SCORE\(6\)/);
    assert.match(text, /X-Mailmoat-Spam: Yes/);
    assert.match(text, /^Subject: \[SPAM\] tag me/m);
    assert.match(text, /^X-Test-Seen: yes/m);
    assert.doesNotMatch(text, /X-Remove-Me/);
    assert.equal((text.match(/^Subject:/gm) ?? []).length, 1);

    assert.equal((await send(gw.port, { subject: 'hold me', headers: { 'X-Test-Score': '11' } })).code, 250);
    const q = readdirSync(path.join(gw.dataDir, 'quarantine'));
    assert.equal(q.filter((f) => f.endsWith('.eml')).length, 1);
    assert.equal(q.filter((f) => f.endsWith('.json')).length, 1);

    const r = await send(gw.port, { subject: 'refuse me', headers: { 'X-Test-Score': '20' } });
    assert.equal(r.code, 550);
    assert.equal(r.text, '5.7.1 Message refused as spam', 'the reply does not give the score away');
    const summary = gw.logs.find((l) => l.msg === 'message' && l.verdict === 'reject');
    assert.ok(summary && Array.isArray(summary.symbols) && summary.cid && summary.qid);
  });

  it('removes every X-Mailmoat-* field a client sent, in any form, from relayed and quarantined mail', async () => {
    const forged = [
      'X-Mailmoat-Spam: No', 'x-mailmoat-verdict: accept; score=-100', 'X-MAILMOAT-Spam-Score : -50',
      'X-Mailmoat-Spam-Level:\r\n\tLow', 'X-Mailmoat-Bayes: 0.0001', 'X-Mailmoat-Anything-Else: trust me',
    ];
    const raw = (subject: string, score: number) => ['From: sender@client.example', 'To: user@example.com', `Subject: ${subject}`,
      ...forged, `X-Test-Score: ${score}`, 'X-Mailmoat-Spam:No', '', 'Body line X-Mailmoat-Spam: No stays in the body.', ''].join('\r\n');
    const deliver = async (subject: string, score: number) => {
      const c = await SmtpDialog.connect(gw.port);
      await c.hello();
      await c.cmd('MAIL FROM:<a@client.example>');
      await c.cmd('RCPT TO:<user@example.com>');
      const r = await c.data(raw(subject, score));
      await c.quit();
      assert.equal(r.code, 250, r.text);
      return /queued as (\S+)/.exec(r.text)![1];
    };
    const ownFields = (text: string) => text.slice(0, text.indexOf('\r\n\r\n')).split(/\r\n(?![ \t])/).filter((l) => /^x-mailmoat-/i.test(l));

    await deliver('forged and relayed', 6);
    const [m] = await gw.sink.waitFor(1);
    const text = m.raw.toString();
    assert.deepEqual(ownFields(text), [
      'X-Mailmoat-Verdict: add_header; score=6; required=15; level=Low; symbols=TEST_SCORE(6)', 'X-Mailmoat-Spam: Yes',
      'X-Mailmoat-Spam-Score: 6', 'X-Mailmoat-Spam-Level: Low',
    ], 'only the gateway\'s own fields are left');
    assert.match(text, /\r\n\r\nBody line X-Mailmoat-Spam: No stays in the body\.\r\n$/);

    const qid = await deliver('forged and quarantined', 11);
    const entry = JSON.parse(readFileSync(path.join(gw.dataDir, 'quarantine', `${qid}.json`), 'utf8'));
    const stored = readFileSync(path.join(gw.dataDir, 'quarantine', `${qid}.eml`));
    const out = Buffer.concat(await outgoingStream(entry, '', stored).toArray()).toString();
    assert.deepEqual(ownFields(out).map((l) => l.split(':')[0]),
      ['X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level'], 'released, it carries only ours');
  });

  it('removes forged X-Mailmoat-* fields however far down a long header section they come, and keeps every other line', async () => {
    // 1.3 MB of fields, which limits.max_header_size allows here: past its default (256 KB) and the relay's old limit (1 MB).
    const padding = Array.from({ length: 12_000 }, (_, i) => `X-Pad-${i}: ${'p'.repeat(100)}`);
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@client.example>');
    await c.cmd('RCPT TO:<user@example.com>');
    const r = await c.data(['Subject: padded', 'X-Test-Score: 6', ...padding, 'X-Mailmoat-Spam: No', 'X-Mailmoat-Trusted:', ' yes',
      'X-Last: kept', '', 'Hello.', ''].join('\r\n'));
    await c.quit();
    assert.equal(r.code, 250, r.text);
    const [m] = await gw.sink.waitFor(1);
    const [head, body] = m.raw.toString().split('\r\n\r\n');
    assert.ok(head.length > 1_300_000);
    assert.deepEqual(head.match(/^X-Mailmoat-(Spam|Trusted):.*$/gim), ['X-Mailmoat-Spam: Yes']);
    assert.equal(head.match(/^X-Pad-\d+: p+$/gm)?.length, 12_000);
    assert.match(head, /\r\nX-Pad-11999: p+\r\nX-Last: kept$/);
    assert.equal(body, 'Hello.\r\n');
  });

  it('drops the recipients a plugin discards, relays to the rest, and answers 250 either way', async () => {
    const r = await send(gw.port, { subject: 'two recipients', to: ['discard-me1@example.com', 'user@example.com', 'Discard-Me2@example.com'] });
    assert.equal(r.code, 250);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['user@example.com']);
    const qid = /queued as (\S+)/.exec(r.text)![1];
    const dropped = gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === qid);
    assert.deepEqual(dropped.map((l) => [l.to, l.plugin, l.reason]),
      [[['discard-me1@example.com'], 'test-behaviour', 'spam trap'], [['Discard-Me2@example.com'], 'test-behaviour', 'spam trap']]);
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qid)!;
    assert.deepEqual(summary.discarded, ['discard-me1@example.com', 'Discard-Me2@example.com']);
    assert.equal(gw.gateway.runtime.metrics.counters.get('recipients_discarded'), 2);
    assert.deepEqual(summary.to, ['discard-me1@example.com', 'user@example.com', 'Discard-Me2@example.com']);
  });

  it('accepts and drops a message every recipient of which is discarded, whatever its verdict, and keeps no file of it', async () => {
    const spool = () => readdirSync(gw.dataDir, { recursive: true }).filter((f) => /\.(eml|json)$/.test(String(f))).length;
    const before = spool();
    for (const subject of ['only a trap', 'only a trap, please-quarantine', 'only traps, scored']) {
      const r = await send(gw.port, { subject, to: ['discard-me@example.com', 'discard-me-b@example.com'], headers: subject.endsWith('scored') ? { 'X-Test-Score': '6' } : {} });
      assert.equal(r.code, 250, subject);
      assert.match(r.text, /queued as \S+/, 'the same answer as for a delivered message: a trap is not given away');
      const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === /queued as (\S+)/.exec(r.text)![1])!;
      assert.equal(summary.delivered_to, 'nobody');
    }
    await gw.gateway.runtime.delivery.idle();
    assert.equal(gw.sink.messages.length, 0);
    assert.equal(spool(), before, 'nothing queued, quarantined or left in the spool');
  });

  it('ignores, with a warning, a discard of an address that is not a recipient', async () => {
    const r = await send(gw.port, { subject: 'please-discard-stranger' });
    assert.equal(r.code, 250);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['user@example.com']);
    assert.ok(gw.logs.some((l) => String(l.msg).startsWith('discardRecipient ignored') && String(l.to) === 'stranger@example.com'));
  });

  it('a quarantine outcome stores the message instead of relaying it', async () => {
    const before = readdirSync(path.join(gw.dataDir, 'quarantine')).length;
    assert.equal((await send(gw.port, { subject: 'please-quarantine' })).code, 250);
    assert.equal(readdirSync(path.join(gw.dataDir, 'quarantine')).length, before + 2);
    await gw.gateway.runtime.delivery.idle();
    assert.equal(gw.sink.messages.length, 0);
  });
});
