// The rules plugin in a real gateway: real SMTP in, a recording smarthost out, a test plugin before it recording the
// findings a scoring plugin would. One rule per action, each on a different kind of criterion.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

const RECORDER = path.join(import.meta.dirname, 'finding-recorder.ts');

function rules(listFile: string) {
  return {
    name: 'rules', regex_timeout: '300ms', lists: { blocked: listFile },
    rules: [
      { name: 'partner', when: { from: { domain: '.partner.example' } }, actions: [{ score: -20 }, { add_header: { name: 'X-Partner', value: 'yes' } }] },
      { name: 'virus', when: { symbol: 'CLAM_*' }, actions: [{ reject: { text: 'Virus found, not delivered', code: 554 } }] },
      { name: 'likely-spam', when: { all: [{ symbol: 'BAYES_SPAM_9*' }, { score: { at_least: 3 } }] }, actions: [{ quarantine: 'bayes says spam' }] },
      { name: 'bulk', when: { header: { name: 'X-Mailer', regex: '^bulkblaster' } }, actions: [{ score: 2 }, { tag_subject: '[BULK]' }, { remove_header: 'X-Mailer' }] },
      { name: 'lottery', when: { body: 'win (a|the) lottery' }, actions: ['discard'] },
      { name: 'exe', when: { attachment: { name: '*.exe' } }, actions: [{ tempfail: 'Executables are held back, try later' }] },
      { name: 'blocked-sender', when: { from: { list: 'blocked' } }, actions: ['reject'] },
      { name: 'hang', when: { body: '(x+x+)+y' }, actions: [{ score: 50 }] },
    ],
  };
}

async function send(port: number, from: string, to: string[], message: string): Promise<SmtpReply> {
  const d = await SmtpDialog.connect(port);
  try {
    await d.hello();
    assert.equal((await d.cmd(`MAIL FROM:<${from}>`)).code, 250);
    for (const r of to) assert.equal((await d.cmd(`RCPT TO:<${r}>`)).code, 250);
    return await d.data(message);
  } finally { await d.quit(); }
}

/** The recipient of a `recipient discarded` or `recipient copied` line: under `to` (a list, as the summary line has it), or `rcpt` as before. */
const rcptOf = (l: Record<string, unknown>) => (Array.isArray(l.to) ? l.to.join(',') : l.rcpt);
const qidOf = (r: SmtpReply) => /queued as (\S+)/.exec(r.text)?.[1];

describe('plugins/rules in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  let dir: string;
  let listFile: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rules-'));
    listFile = path.join(dir, 'blocked.txt');
    writeFileSync(listFile, '# senders we refuse\nspammer@bad.example\n');
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'finding-recorder', module: RECORDER }, rules(listFile)] } });
  });
  after(async () => { await gw?.stop(); rmSync(dir, { recursive: true, force: true }); });

  it('envelope sender: a negative score (whitelist) and an added header, both in the relayed message and the verdict', async () => {
    const r = await send(gw.port, 'ceo@mail.partner.example', ['ann@example.com'], testMessage({ subject: 'partner-1', headers: { 'X-Test-Finding': 'BAYES_SPAM_99=6' } }));
    assert.equal(r.code, 250);
    const raw = await gw.sink.waitForText('partner-1');
    assert.match(raw, /^X-Partner: yes\r$/m);
    assert.match(raw, /^X-Mailmoat-Verdict: accept; score=-14; .*symbols=BAYES_SPAM_99\(6\) RULE_PARTNER\(-20\)/m);
    const line = gw.logs.find((l) => l.msg === 'rule matched' && l.rule === 'partner');
    assert.equal(line?.qid, qidOf(r));
  });

  it('a finding symbol (CLAM_*) rejects with the rule\'s own 5xx text', async () => {
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'virus-1', headers: { 'X-Test-Finding': 'CLAM_VIRUS=0' } }));
    assert.equal(r.code, 554);
    assert.match(r.text, /^5\.7\.1 Virus found, not delivered/);
    assert.ok(gw.logs.some((l) => l.msg === 'rule matched' && l.rule === 'virus'));
    // The summary line names the rule, as a quarantine's does; the client heard only the rule's text.
    const summary = gw.logs.find((l) => l.msg === 'message' && l.subject === undefined && l.verdict === 'reject' && l.reply?.toString().startsWith('554'));
    assert.equal(summary?.reason, 'rules: rule virus');
  });

  it('symbol and total score together quarantine the message (250, kept in the quarantine)', async () => {
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'quarantine-1', headers: { 'X-Test-Finding': 'BAYES_SPAM_95=4' } }));
    assert.equal(r.code, 250);
    const qid = qidOf(r)!;
    assert.ok(readdirSync(path.join(gw.dataDir, 'quarantine')).some((f) => f.startsWith(qid)), 'not in the quarantine');
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
    assert.equal(summary?.verdict, 'quarantine');
    assert.match(String(summary?.reason), /rule likely-spam: bayes says spam/);
    // Below the rule's score threshold the same symbol does nothing.
    const low = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'quarantine-2', headers: { 'X-Test-Finding': 'BAYES_SPAM_91=2' } }));
    assert.equal(low.code, 250);
    await gw.sink.waitForText('quarantine-2');
  });

  it('a header regex scores, tags the subject and removes the header', async () => {
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'bulk-1', headers: { 'X-Mailer': 'BulkBlaster 3.1' } }));
    assert.equal(r.code, 250);
    const raw = await gw.sink.waitForText('bulk-1');
    assert.match(raw, /^Subject: \[BULK\] bulk-1\r$/m);
    assert.equal((raw.match(/^Subject:/gm) ?? []).length, 1);
    assert.doesNotMatch(raw, /^X-Mailer:/m);
    assert.match(raw, /RULE_BULK\(2\)/);
  });

  it('a body regex discards the message for all recipients (250, nothing relayed, logged with the rule)', async () => {
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com', 'bob@example.com'], testMessage({ subject: 'lottery-1', body: 'You WIN THE LOTTERY today.\r\n' }));
    assert.equal(r.code, 250);
    const qid = qidOf(r);
    const discarded = gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === qid);
    assert.deepEqual(discarded.map((l) => [rcptOf(l), l.reason]), [['ann@example.com', 'rule lottery'], ['bob@example.com', 'rule lottery']]);
    await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'after-lottery' }));
    await gw.sink.waitForText('after-lottery');
    assert.ok(!gw.sink.messages.some((m) => m.raw.toString().includes('lottery-1')));
  });

  it('an attachment name tempfails with 4xx', async () => {
    const mime = [
      'From: a@elsewhere.example', 'To: ann@example.com', 'Subject: exe-1', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain', '', 'see attached', '--b1',
      'Content-Type: application/octet-stream; name="setup.EXE"', 'Content-Disposition: attachment; filename="setup.EXE"',
      'Content-Transfer-Encoding: base64', '', Buffer.from('MZ fake').toString('base64'), '--b1--', '',
    ].join('\r\n');
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], mime);
    assert.equal(r.code, 451);
    assert.match(r.text, /^4\.7\.1 Executables are held back/);
  });

  it('a sender in a list file is rejected (550 5.7.1 by default); the file is read again on reload', async () => {
    const r = await send(gw.port, 'spammer@bad.example', ['ann@example.com'], testMessage({ subject: 'list-1' }));
    assert.equal(r.code, 550);
    assert.match(r.text, /^5\.7\.1 Message refused by policy/);
    writeFileSync(listFile, 'other@bad.example\n');
    // What SIGHUP does: the same config again, the plugins created anew.
    assert.equal(await gw.gateway.reload(gw.gateway.runtime.config), true);
    const again = await send(gw.port, 'spammer@bad.example', ['ann@example.com'], testMessage({ subject: 'list-2' }));
    assert.equal(again.code, 250);
    assert.equal((await send(gw.port, 'other@bad.example', ['ann@example.com'], testMessage({ subject: 'list-3' }))).code, 550);
  });

  it('a regex that would run for ever is ended at regex_timeout: the message is deferred (on_timeout: tempfail), the gateway answers meanwhile', async () => {
    const body = 'x'.repeat(40) + '\r\n';
    const started = Date.now();
    const pending = send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'hang-1', body }));
    // Another session is served while the regex thread is busy.
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello()).code, 250);
    await d.quit();
    const r = await pending;
    // Not judged, it might have been refused: deferred, not let through.
    assert.equal(r.code, 451);
    assert.match(r.text, /^4\.3\.0 /);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.ok(gw.logs.some((l) => l.msg === 'rule skipped: its regexes did not finish in time' && l.rule === 'hang' && l.on_timeout === 'tempfail'));
    // The next message gets a fresh thread and every rule again.
    const next = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'bulk-2', headers: { 'X-Mailer': 'BulkBlaster' } }));
    assert.equal(next.code, 250);
    assert.match(await gw.sink.waitForText('bulk-2'), /RULE_BULK\(2\)/);
  });
});

describe('plugins/rules with the verdict\'s subject tag', function () {
  this.timeout(60_000);
  it('a rule\'s quarantine at a low score is policy, not spam: no tag, X-Mailmoat-Spam: No, the rule named in the verdict', async () => {
    const gw = await startRelayingGateway({ config: {
      scores: { add_header: 5, subject_tag: '[SPAM]' },
      plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }],
    } });
    try {
      const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'hold-me 1' }));
      assert.equal(r.code, 250);
      const qid = qidOf(r)!;
      const dir = path.join(gw.dataDir, 'quarantine');
      const entry = JSON.parse(readFileSync(path.join(dir, `${qid}.json`), 'utf8')) as { prepend: string; remove: string[] };
      const original = readFileSync(path.join(dir, `${qid}.eml`), 'latin1');
      // The message as a release sends it: the gateway's fields, then the original's minus those it removes.
      const kept = original.slice(0, original.indexOf('\r\n\r\n')).split('\r\n').filter((l) => !entry.remove.includes(l.slice(0, l.indexOf(':')).toLowerCase()));
      const head = entry.prepend + kept.join('\r\n');
      assert.deepEqual(head.match(/^Subject:.*$/gim), ['Subject: hold-me 1'], head);
      assert.match(head, /^X-Mailmoat-Spam: No\r?$/m);
      assert.match(head, /^X-Mailmoat-Verdict: quarantine; score=0; level=None; reason="rules: rule hold: held for review"\r?$/m);
    } finally { await gw.stop(); }
  });

  it('tags the Subject a rule already tagged, and leaves one Subject field', async () => {
    const gw = await startRelayingGateway({ config: {
      scores: { add_header: 1, subject_tag: '[SPAM]' },
      plugins: [{ name: 'rules', rules: [{ name: 'bulk', when: { header: { name: 'X-Mailer', regex: '^bulkblaster' } }, actions: [{ score: 2 }, { tag_subject: '[BULK]' }] }] }],
    } });
    try {
      const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'bulk-3', headers: { 'X-Mailer': 'BulkBlaster' } }));
      assert.equal(r.code, 250);
      const raw = await gw.sink.waitForText('bulk-3');
      const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
      assert.deepEqual(head.match(/^Subject:.*$/gim), ['Subject: [SPAM] [BULK] bulk-3'], head);
    } finally { await gw.stop(); }
  });
});

describe('plugins/rules copy_to in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      limits: { max_recipients: 3 },
      plugins: [{ name: 'finding-recorder', module: RECORDER }, {
        name: 'rules', rules: [
          { name: 'archive', when: { subject: 'archive' }, actions: [{ copy_to: 'archive@archive.example' }] },
          { name: 'legal', when: { subject: 'legal' }, actions: [{ copy_to: ['ARCHIVE@archive.example', 'records@example.com'] }] },
          { name: 'hold', when: { symbol: 'HOLD_ME' }, actions: ['quarantine'] },
          { name: 'refuse', when: { symbol: 'REFUSE_ME' }, actions: ['reject'] },
        ],
      }],
    } });
  });
  after(() => gw?.stop());
  beforeEach(() => { gw.sink.messages.length = 0; gw.sink.rcptReplies.clear(); });

  const summaryAfter = (from: number) => gw.logs.slice(from).find((l) => l.msg === 'message')!;

  it('copies a message to an archive address: the smarthost gets it for both, the summary line shows the copy', async () => {
    const from = gw.logs.length;
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'archive-1' }));
    assert.equal(r.code, 250, r.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'archive@archive.example']);
    assert.doesNotMatch(m.raw.toString(), /archive@archive\.example/, 'the copy is named nowhere in the message');
    const summary = summaryAfter(from);
    assert.deepEqual(summary.to, ['ann@example.com']);
    assert.deepEqual(summary.copied_to, ['archive@archive.example']);
    const copied = gw.logs.find((l) => l.msg === 'recipient copied' && l.qid === qidOf(r))!;
    assert.deepEqual([rcptOf(copied), copied.plugin, copied.reason], ['archive@archive.example', 'rules', 'rule archive']);
  });

  it('adds a copy once: two rules naming it, in any case, and a recipient the client named itself', async () => {
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com', 'records@example.com'], testMessage({ subject: 'archive legal-1' }));
    assert.equal(r.code, 250, r.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'records@example.com', 'archive@archive.example']);
  });

  it('holds limits.max_recipients: the copy is refused with a warning and the message goes to its own recipients', async () => {
    const from = gw.logs.length;
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com', 'bob@example.com', 'cy@example.com'], testMessage({ subject: 'archive-full' }));
    assert.equal(r.code, 250, r.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'bob@example.com', 'cy@example.com']);
    assert.ok(gw.logs.slice(from).some((l) => l.level === 'warn' && l.msg === 'addRecipient refused: limits.max_recipients reached' && rcptOf(l) === 'archive@archive.example'));
    assert.equal(summaryAfter(from).copied_to, undefined);
  });

  it('a copy the smarthost refuses with 550 does not bounce to the sender: it is logged and dead-lettered', async () => {
    gw.sink.rcptReplies.set('archive@archive.example', 550);
    const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'archive-refused' }));
    assert.equal(r.code, 250, r.text);
    const qid = qidOf(r);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com']);
    const deadline = Date.now() + 10_000;
    while (!gw.logs.some((l) => l.qid === qid && l.msg === 'permanent failure: moved to dead-letter')) {
      assert.ok(Date.now() < deadline, 'not dead-lettered');
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(!gw.logs.some((l) => l.qid === qid && /notice queued/.test(String(l.msg))), 'no notice for the copy');
    await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'after-refused' }));
    await gw.sink.waitForText('after-refused');
    assert.ok(!gw.sink.messages.some((x) => x.mailFrom === ''), 'no bounce reached the smarthost');
  });

  it('does not copy a message a later rule quarantines or rejects', async () => {
    let from = gw.logs.length;
    const held = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'archive-held', headers: { 'X-Test-Finding': 'HOLD_ME=0' } }));
    assert.equal(held.code, 250, held.text);
    assert.equal(summaryAfter(from).verdict, 'quarantine');
    assert.deepEqual(summaryAfter(from).copies_dropped, ['archive@archive.example']);
    from = gw.logs.length;
    const refused = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'archive-refused-2', headers: { 'X-Test-Finding': 'REFUSE_ME=0' } }));
    assert.equal(refused.code, 550);
    assert.deepEqual(summaryAfter(from).copies_dropped, ['archive@archive.example']);
    await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'after-held' }));
    await gw.sink.waitForText('after-held');
    assert.ok(!gw.sink.messages.some((x) => x.rcptTo.includes('archive@archive.example')), 'no copy was relayed');
  });
});

describe('plugins/rules with on_timeout: skip', function () {
  this.timeout(60_000);
  it('skips a rule whose regex did not finish, says so in RULES_TIMEOUT(0), and lets the mail through', async () => {
    const gw = await startRelayingGateway({ config: {
      plugins: [{ name: 'rules', regex_timeout: '300ms', on_timeout: 'skip', rules: [{ name: 'hang', when: { body: '(x+x+)+y' }, actions: [{ score: 50 }] }] }],
    } });
    try {
      const r = await send(gw.port, 'a@elsewhere.example', ['ann@example.com'], testMessage({ subject: 'hang-skip', body: 'x'.repeat(40) + '\r\n' }));
      assert.equal(r.code, 250);
      const raw = await gw.sink.waitForText('hang-skip');
      assert.match(raw, /RULES_TIMEOUT\(0\)/);
      assert.doesNotMatch(raw, /RULE_HANG/);
      assert.ok(gw.logs.some((l) => l.msg === 'rule skipped: its regexes did not finish in time' && l.rule === 'hang' && l.qid === qidOf(r)));
    } finally { await gw.stop(); }
  });
});
