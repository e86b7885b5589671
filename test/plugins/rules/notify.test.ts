// The notify action in a real gateway: real SMTP in, a recording smarthost out. A matching rule's notice reaches the
// admin's address through the queue, from the null sender, with the fields the rule saw and none of the message; it
// tells what became of the message (delivered, held, refused by the score), never of a deferred one; the rate limit
// holds under a burst; and a notice of ours that comes back in gets no notice about it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import type { ReceivedMessage } from '../../helpers/smarthost.ts';
import { decodeWords } from '../../../core/text/encoded-words.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { sendRaw } from './timed-send.ts';

const RECORDER = path.join(import.meta.dirname, 'finding-recorder.ts');
const ADMIN = 'security@example.com';
const POSTMASTER = 'mailer-daemon@example.com';
const ALICE = 'alice@example.com';
const OUTSIDE = 'partner@remote.example';

const RULES = {
  name: 'rules', notify_limit: 3, notify_window: '5s',
  rules: [
    { name: 'watch-exe', when: { attachment: { name: '*.exe' } }, actions: [{ tag_subject: '[EXE]' }, { notify: { to: [ADMIN, 'recipients'], subject: 'Exe for {recipients}: {subject}' } }] },
    { name: 'hold-scr', description: 'screensavers are held', when: { attachment: { name: '*.scr' } }, actions: [{ notify: ADMIN }, 'quarantine'] },
    { name: 'bayes-watch', when: { symbol: 'BAYES_SPAM_99' }, actions: [{ notify: ADMIN }] },
    { name: 'watch-defer', when: { subject: '^defer-test' }, actions: [{ notify: ADMIN }] },
    { name: 'defer-marked', when: { header: { name: 'X-Defer', exists: true } }, actions: [{ tempfail: 'Try again later' }] },
    { name: 'burst', when: { subject: '^burst' }, actions: [{ notify: ADMIN }] },
    { name: 'to-security', when: { to: { address: ADMIN } }, actions: [{ notify: ADMIN }] },
  ],
};

/** A message from a@elsewhere.example with one attachment named `file`; `subject` is written as given. */
function withFile(subject: string, file: string): string {
  return [
    'From: a@elsewhere.example', `To: ${ALICE}`, `Subject: ${subject}`, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="nb"', '',
    '--nb', 'Content-Type: text/plain', '', 'ORIGINAL-BODY-TEXT run this', '--nb', `Content-Type: application/octet-stream; name="${file}"`,
    `Content-Disposition: attachment; filename="${file}"`, 'Content-Transfer-Encoding: base64', '', Buffer.from('MZ ATTACHED-PROGRAM').toString('base64'), '--nb--', '',
  ].join('\r\n');
}

const qidOf = (r: SmtpReply) => /queued as (\S+)/.exec(r.text)?.[1];

/** A notice as the smarthost got it: its header fields unfolded, its Subject decoded, its base64 body as text. */
function readNotice(m: ReceivedMessage) {
  const raw = m.raw.toString('utf8');
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1];
  return { raw, head, field, subject: decodeWords(field('Subject') ?? ''), body: Buffer.from(raw.slice(split + 4), 'base64').toString('utf8') };
}

describe('plugins/rules notify, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: {
      relay: { networks: ['127.0.0.0/8'] }, queue: { bounces: { postmaster: POSTMASTER } },
      plugins: [{ name: 'finding-recorder', module: RECORDER }, RULES],
    } });
  });
  after(async () => { await gw?.stop(); });

  /** The `notice queued` lines of `rule`. */
  const noticesOf = (rule: string) => gw.logs.filter((l) => l.msg === 'rules: notice queued' && l.rule === rule);
  /** The notices the smarthost got about the message `qid` (their Message-ID starts with it). */
  const deliveredAbout = (qid: unknown) => gw.sink.messages.filter((m) => m.raw.toString('latin1').includes('.rule-notice@')
    && readNotice(m).field('Message-ID')?.startsWith(`<${qid}.`));
  /** Those notices, waited for until there are `count`. */
  async function noticesAbout(qid: string, count: number): Promise<ReceivedMessage[]> {
    return await waitFor(`${count} notice(s) about ${qid}`, () => {
      const got = deliveredAbout(qid);
      return got.length >= count ? got : undefined;
    });
  }

  it('a delivered message: the original goes on, and the notice to the admin carries the rule\'s fields and none of the message', async () => {
    // The Subject hides a right-to-left override and a line break in an encoded word.
    const subject = `=?UTF-8?B?${Buffer.from('Rechnung \u202Eexe.pdf\u202C für dich\r\nBcc: x@evil.example').toString('base64')}?=`;
    const r = await sendRaw(gw.port, withFile(subject, 'setup.exe'), { to: [ALICE, OUTSIDE] });
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const qid = qidOf(r)!;
    const original = await gw.sink.waitForText('ORIGINAL-BODY-TEXT');
    assert.match(original, /^Subject: \[EXE\] /m);
    const [admin, own] = await noticesAbout(qid, 2).then((ms) => [ms.find((m) => m.rcptTo.includes(ADMIN))!, ms.find((m) => m.rcptTo.includes(ALICE))!]);
    assert.deepEqual(admin.rcptTo, [ADMIN]);
    assert.equal(admin.mailFrom, '', 'sent from the null sender');
    const n = readNotice(admin);
    assert.equal(n.field('From'), POSTMASTER);
    assert.equal(n.field('To'), ADMIN);
    assert.equal(n.field('Auto-Submitted'), 'auto-generated');
    assert.match(n.field('X-Mailmoat-Rule-Notice') ?? '', /^rule=watch-exe; mac=[A-Za-z0-9_-]{43}$/);
    assert.equal(n.subject, `Exe for ${ALICE}, ${OUTSIDE}: Rechnung exe.pdf für dich Bcc: x@evil.example`);
    assert.match(n.body, /^The mail gateway's rule watch-exe matched a message\.\r$/m);
    assert.match(n.body, new RegExp(`^Queue ID: +${qid}\\r$`, 'm'));
    assert.match(n.body, /^Sender: +a@elsewhere\.example\r$/m);
    assert.match(n.body, new RegExp(`^Recipients: +${ALICE}, ${OUTSIDE}\\r$`, 'm'));
    assert.match(n.body, /^Subject: +Rechnung exe\.pdf für dich Bcc: x@evil\.example\r$/m);
    assert.match(n.body, /^Action: +deliver \(score below every threshold\)\r$/m);
    assert.match(n.body, /^Score: +0\r$/m);
    // Nothing of the message: no body text, no attachment (nor its base64), no header of its own.
    for (const what of ['ORIGINAL-BODY-TEXT', 'ATTACHED-PROGRAM', Buffer.from('MZ ATTACHED-PROGRAM').toString('base64'), '\u202E']) {
      assert.ok(!n.raw.includes(what) && !n.body.includes(what), `the notice carries ${JSON.stringify(what)}`);
    }
    assert.doesNotMatch(n.head, /^(Bcc|Content-Disposition|From: a@elsewhere)/mi);
    // `recipients`: the local recipient alone gets one naming only her; the one outside gets none.
    assert.deepEqual(own.rcptTo, [ALICE]);
    assert.match(readNotice(own).body, new RegExp(`^Recipients: +${ALICE}\\r$`, 'm'));
    assert.ok(!gw.sink.messages.some((m) => m.rcptTo.includes(OUTSIDE) && m.raw.includes('rule-notice@')), 'a notice went outside');
  });

  it('a quoted value is cut to 200 characters', async () => {
    const r = await sendRaw(gw.port, withFile(`long ${'A'.repeat(500)}`, 'long.scr'), { to: [ALICE] });
    const [m] = await noticesAbout(qidOf(r)!, 1);
    assert.equal(/^Subject: +(.*)\r$/m.exec(readNotice(m).body)![1], `long ${'A'.repeat(194)}…`);
  });

  it('a held message: the notice says quarantine, with why, and the original is not relayed', async () => {
    const r = await sendRaw(gw.port, withFile('screensaver', 'fun.scr'), { to: [ALICE] });
    assert.equal(r.code, 250);
    const [m] = await noticesAbout(qidOf(r)!, 1);
    assert.match(readNotice(m).body, /^Action: +quarantine \(rules: rule hold-scr: screensavers are held\)\r$/m);
    assert.equal(readNotice(m).subject, 'Rule hold-scr matched a message from a@elsewhere.example');
    assert.ok(!gw.sink.messages.some((x) => x.raw.toString('latin1').includes('Subject: screensaver')), 'the held message was relayed');
  });

  it('a message the score then refuses: the notice says reject, with the score', async () => {
    const r = await sendRaw(gw.port, testMessage({ subject: 'spammy', headers: { 'X-Test-Finding': 'BAYES_SPAM_99=20' } }), { to: [ALICE] });
    assert.equal(r.code, 550);
    // Refused, the message has no queue id the client saw: its log lines have it.
    const line = await waitFor('the notice of bayes-watch', () => noticesOf('bayes-watch')[0]);
    assert.match(String(line.action), /^reject \(score 20 ≥ reject threshold 15\)$/);
    const [m] = await noticesAbout(String(line.qid), 1);
    assert.match(readNotice(m).body, /^Score: +20\r$/m);
    assert.match(readNotice(m).body, /^Action: +reject \(score 20 ≥ reject threshold 15\)\r$/m);
  });

  it('a deferred message gets no notice; its retry, accepted, gets one', async () => {
    const deferred = await sendRaw(gw.port, testMessage({ subject: 'defer-test 1', headers: { 'X-Defer': 'yes' } }), { to: [ALICE] });
    assert.equal(deferred.code, 451);
    await waitFor('the deferred message\'s line', () => gw.logs.find((l) => l.msg === 'rules: no notice for a deferred message: its retry is judged again'));
    const retry = await sendRaw(gw.port, testMessage({ subject: 'defer-test 1' }), { to: [ALICE] });
    assert.equal(retry.code, 250);
    const [m] = await noticesAbout(qidOf(retry)!, 1);
    assert.match(readNotice(m).body, /^Action: +deliver /m);
    assert.equal(noticesOf('watch-defer').length, 1);
  });

  it('a burst: at most notify_limit notices per window, the rest counted and logged once at the window\'s end', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => sendRaw(gw.port, testMessage({ subject: `burst ${i}` }), { to: [ALICE] })));
    assert.deepEqual(replies.map((r) => r.code), Array(8).fill(250));
    const held = await waitFor('the held-back line', () => gw.logs.find((l) => l.msg === 'rules: notices held back by notify_limit' && l.rule === 'burst'), 20_000);
    assert.equal(held.suppressed, 5);
    assert.equal(noticesOf('burst').length, 3);
    await waitUntil('the three notices delivered', () => noticesOf('burst').every((l) => deliveredAbout(l.qid).length === 1));
    assert.equal(gw.logs.filter((l) => l.msg === 'rules: notices held back by notify_limit').length, 1);
    const metrics = await controlRequest(socketPath(gw.dataDir), { op: 'metrics' }, 10_000) as { plugins?: Record<string, number> };
    assert.equal(metrics.plugins?.rules_notices_suppressed, 5);
    assert.ok((metrics.plugins?.rules_notices_sent ?? 0) >= 3, JSON.stringify(metrics.plugins));
  });

  it('a notice of ours that comes back in gets no notice about it; a forged mark does', async () => {
    const first = await sendRaw(gw.port, testMessage({ subject: 'to the security team', to: ADMIN }), { to: [ADMIN] });
    const [notice] = await noticesAbout(qidOf(first)!, 1);
    // The admin's mail routed through the gateway again, as the notice left it.
    const back = await sendRaw(gw.port, notice.raw.toString('latin1'), { from: '', to: [ADMIN] });
    assert.equal(back.code, 250);
    const backQid = qidOf(back)!;
    await waitFor('the line saying why not', () => gw.logs.find((l) => l.msg === 'rules: no notice about a notice of the gateway\'s own' && l.qid === backQid));
    const forged = notice.raw.toString('latin1').replace(/mac=[A-Za-z0-9_-]{43}/, `mac=${'A'.repeat(43)}`);
    const again = await sendRaw(gw.port, forged, { from: '', to: [ADMIN] });
    await noticesAbout(qidOf(again)!, 1);
    // Its data hook kept no notice, so none can follow.
    assert.ok(!gw.logs.some((l) => l.msg === 'rules: notice queued' && l.qid === backQid), 'a notice about a notice');
    assert.equal(gw.logs.filter((l) => l.msg === 'rules: notice queued' && l.rule === 'to-security').length, 2);
  });
});
