// scores.domains in a real gateway: a hosting provider's customer A refuses at 10, customer B only tags. One message to
// a@custa and b@custb cannot be judged once for both, so b@custb gets 452 4.5.3 and comes in a second transaction:
// custa's copy is refused at score 12, custb's is delivered tagged to a real sink.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const SPAMMY = { name: 'spammy', when: { subject: { contains: 'cheap pills' } }, actions: [{ score: 12 }] };

describe('scores.domains: one threshold set per transaction', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        domains: ['custa.example', 'custb.example', 'custc.example'],
        scores: {
          reject: 15,
          domains: {
            'custa.example': { reject: 10 },
            'custb.example': { quarantine: null, reject: null },
            'custc.example': { reject: 10 },
          },
        },
        plugins: [{ name: 'rules', rules: [SPAMMY] }],
      },
    });
  });
  after(async () => { await gw?.stop(); });

  const copiesFor = (rcpt: string, marker: string) =>
    gw.sink.messages.filter((m) => m.rcptTo.includes(rcpt) && m.raw.toString('latin1').includes(marker));

  it('answers the recipient of another set 452 4.5.3; each copy is judged by its own domain\'s thresholds', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<seller@shop.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a@custa.example>')).code, 250);
      const split = await d.cmd('RCPT TO:<b@custb.example>');
      assert.equal(split.code, 452);
      assert.equal(split.text, '4.5.3 Too many recipients: send to <b@custb.example> in another transaction');
      const first = await d.data(testMessage({ from: 'seller@shop.example', to: 'a@custa.example, b@custb.example', subject: 'cheap pills split-1' }));
      assert.equal(first.code, 550, 'custa refuses from 10: the rule gave 12');
      assert.equal(first.text, '5.7.1 Message refused as spam');
      // What an MTA does with the 452: the same message to the deferred recipient, in a new transaction.
      assert.equal((await d.cmd('MAIL FROM:<seller@shop.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<b@custb.example>')).code, 250);
      const second = await d.data(testMessage({ from: 'seller@shop.example', to: 'a@custa.example, b@custb.example', subject: 'cheap pills split-1' }));
      assert.equal(second.code, 250, second.text);
    } finally { await d.quit(); }

    const raw = await gw.sink.waitForText('split-1');
    assert.match(raw, /^X-Mailmoat-Verdict: add_header; score=12; required=5; level=High; symbols=RULE_SPAMMY\(12\)\r$/m, 'required= is custb\'s add_header: its quarantine and reject are off');
    assert.match(raw, /^X-Mailmoat-Spam: Yes\r$/m);
    assert.deepEqual(copiesFor('b@custb.example', 'split-1').length, 1);
    assert.equal(copiesFor('a@custa.example', 'split-1').length, 0, 'custa\'s copy was refused, never relayed');

    const line = await waitFor('the split\'s log line', () => gw.logs.find((l) => l.msg === 'recipient refused' && l.reason === 'scores.domains'));
    assert.equal(line.thresholds, 'add_header=5');
    assert.equal(line.first_to, 'a@custa.example');
    assert.equal(line.first_thresholds, 'reject=10 add_header=5');
    const summaries = gw.logs.filter((l) => typeof l.reason === 'string' && /score 12 ≥ reject threshold 10/.test(l.reason));
    assert.equal(summaries.length, 1, 'custa\'s copy refused by its own reject threshold, 10');
  });

  it('keeps recipients whose domains have equal thresholds in one transaction', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<friend@mail.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a@custa.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<c@custc.example>')).code, 250, 'custc has custa\'s thresholds under another entry');
      assert.equal((await d.data(testMessage({ from: 'friend@mail.example', to: 'a@custa.example', subject: 'lunch together-2' }))).code, 250);
    } finally { await d.quit(); }
    const copy = await waitFor('the shared copy at the sink', () => gw.sink.messages.find((m) => m.raw.toString('latin1').includes('together-2')));
    assert.deepEqual([...copy.rcptTo].sort(), ['a@custa.example', 'c@custc.example']);
    assert.match(copy.raw.toString('latin1'), /^X-Mailmoat-Verdict: accept; score=0; required=10; /m);
  });

  it('nodemailer does not send the 452 recipient again itself: it reports it rejected, and a second send delivers it', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true });
    try {
      const mail = { from: 'friend@mail.example', to: ['a@custa.example', 'b@custb.example'], subject: 'minutes retry-3', text: 'See you.' };
      const info = await transport.sendMail(mail);
      assert.deepEqual(info.accepted, ['a@custa.example']);
      assert.deepEqual(info.rejected, ['b@custb.example']);
      assert.match(String(info.rejectedErrors?.[0]?.response), /^452 4\.5\.3 Too many recipients: send to <b@custb\.example> in another transaction/);
      const again = await transport.sendMail({ ...mail, envelope: { from: mail.from, to: info.rejected as string[] } });
      assert.deepEqual(again.accepted, ['b@custb.example']);
    } finally { transport.close(); }
    await waitFor('both copies at the sink', () => (copiesFor('a@custa.example', 'retry-3').length && copiesFor('b@custb.example', 'retry-3').length) || undefined);
    const b = copiesFor('b@custb.example', 'retry-3')[0];
    assert.deepEqual(b.rcptTo, ['b@custb.example']);
    assert.match(b.raw.toString('latin1'), /^X-Mailmoat-Verdict: accept; score=0; required=5; /m);
  });

  it('does not split a relay attempt: a recipient outside the domains is refused as before', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<friend@mail.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<a@custa.example>')).code, 250);
      const r = await d.cmd('RCPT TO:<someone@elsewhere.example>');
      assert.equal(r.code, 554);
      assert.match(r.text, /Relay access denied/);
    } finally { await d.quit(); }
  });
});
