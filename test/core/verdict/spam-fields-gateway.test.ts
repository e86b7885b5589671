// headers.spam_fields through a real gateway, the rules plugin and a real smarthost: the fields as the server behind
// receives them with SpamAssassin's on and off, a client's forged X-Spam fields removed while they are on, a rule's
// accept and a release saying not spam in every field the verdict wrote.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { moatQueue } from '../queue/moat-queue.ts';

/** Scores by Subject word: 4.2 + 3 = 7.2 for "pills offer", 55 for "lottery", a hold, a partner's accept. */
const RULES = {
  name: 'rules', rules: [
    { name: 'pills', when: { subject: 'pills' }, actions: [{ score: 4.2 }] },
    { name: 'offer', when: { subject: 'offer' }, actions: [{ score: 3 }] },
    { name: 'lottery', when: { subject: 'lottery' }, actions: [{ score: 55 }] },
    { name: 'partner', when: { subject: 'partner' }, actions: [{ score: 9 }, 'accept'] },
    { name: 'hold', when: { subject: 'hold' }, actions: [{ score: 12 }, { add_header: { name: 'X-Spam-Flag', value: 'YES' } }, 'quarantine'] },
  ],
};
/** No score refuses or holds: the 55 of "lottery" is delivered, to show its stars. */
const SCORES = { add_header: 5, quarantine: null, reject: null };

/** A client's own spam fields, in the forms a server behind would read: one spaced before its colon, one far down. */
const FORGED = {
  'X-Spam-Flag': 'NO', 'X-Spam-Status': 'No, score=-5.0 required=5.0 tests=ALL_TRUSTED', 'X-Spam': 'No',
  'X-Spam-Level ': '', 'X-Spamd-Bar': '/', 'X-Mailmoat-Spam': 'No',
};

function send(gw: RelayingGateway, subject: string, opts: { to?: string; headers?: Record<string, string> } = {}): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true });
  const to = opts.to ?? 'ann@example.com';
  const extra = { ...opts.headers, ...(opts.headers ? { 'X-Padding-1': 'a', 'X-Padding-2': 'b', 'X-Spam-Report': 'forged, far down' } : {}) };
  return t.sendMail({ envelope: { from: 'shop@sender.example', to: [to] }, raw: testMessage({ to, subject, headers: extra }) })
    .then((info) => /queued as (\S+)/.exec(info.response)![1])
    .finally(() => t.close());
}

/** The header section of a delivered message, and its fields of one name, values as a reader unfolds them. */
function header(raw: string) {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n') + 2);
  const fields = head.split(/\r\n(?![ \t])/).filter((l) => l !== '').map((l) => l.replace(/\r\n/g, ''));
  const all = (name: string) => fields.filter((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name.toLowerCase())
    .map((l) => l.slice(l.indexOf(':') + 1).trim());
  const names = fields.map((l) => l.slice(0, l.indexOf(':')).trim());
  return { all, names };
}

describe('spam fields as the server behind receives them (headers.spam_fields)', function () {
  this.timeout(60_000);

  describe('with SpamAssassin\'s fields on', () => {
    let gw: RelayingGateway;
    before(async () => {
      gw = await startRelayingGateway({ config: { scores: SCORES, plugins: [RULES], headers: { spam_fields: ['mailmoat', 'spamassassin'] } } });
    });
    after(() => gw?.stop());

    it('writes the flag, the status and the stars of a spam message, the client\'s own X-Spam fields removed', async () => {
      await send(gw, 'cheap pills offer sa-1', { headers: FORGED });
      const h = header(await gw.sink.waitForText('sa-1'));
      assert.deepEqual(h.all('X-Spam-Flag'), ['YES'], 'the gateway\'s flag alone, the sender\'s NO gone');
      assert.deepEqual(h.all('X-Spam-Status'), ['Yes, score=7.2 required=5.0 tests=RULE_OFFER,RULE_PILLS']);
      assert.deepEqual(h.all('X-Spam-Level'), ['*******']);
      assert.deepEqual(h.all('X-Spam'), [], 'Rspamd\'s bare X-Spam of the client');
      assert.deepEqual(h.all('X-Spam-Report'), [], 'an X-Spam-* field far down the header section');
      assert.deepEqual(h.all('X-Spamd-Bar'), ['/'], 'not of that namespace: it stays');
      assert.deepEqual(h.all('X-Mailmoat-Spam'), ['Yes']);
      assert.deepEqual(h.all('X-Mailmoat-Spam-Level'), ['Low']);
      assert.deepEqual(h.names.slice(0, 5), ['Received', 'X-Spam-Flag', 'X-Spam-Status', 'X-Spam-Level', 'X-Mailmoat-Verdict']);
    });

    it('writes no flag on ham, its status No and its stars by the score', async () => {
      await send(gw, 'an offer sa-2', { headers: { 'X-Spam-Flag': 'YES' } });
      const h = header(await gw.sink.waitForText('sa-2'));
      assert.deepEqual(h.all('X-Spam-Flag'), [], 'a client\'s flag is removed either way');
      assert.deepEqual(h.all('X-Spam-Status'), ['No, score=3.0 required=5.0 tests=RULE_OFFER']);
      assert.deepEqual(h.all('X-Spam-Level'), ['***']);
      assert.deepEqual(h.all('X-Mailmoat-Spam'), ['No']);
    });

    it('caps the stars at 50', async () => {
      await send(gw, 'lottery sa-3');
      const h = header(await gw.sink.waitForText('sa-3'));
      assert.deepEqual(h.all('X-Spam-Level'), ['*'.repeat(50)]);
      assert.deepEqual(h.all('X-Spam-Status'), ['Yes, score=55.0 required=5.0 tests=RULE_LOTTERY']);
    });

    it('says not spam in every field for a rule\'s accept, whatever the score', async () => {
      await send(gw, 'partner news sa-4');
      const h = header(await gw.sink.waitForText('sa-4'));
      assert.deepEqual(h.all('X-Mailmoat-Spam'), ['No']);
      assert.deepEqual(h.all('X-Mailmoat-Spam-Level'), ['None'], 'was Medium beside No');
      assert.deepEqual(h.all('X-Mailmoat-Spam-Score'), ['9']);
      assert.deepEqual(h.all('X-Spam-Flag'), []);
      assert.deepEqual(h.all('X-Spam-Status'), ['No, score=9.0 required=5.0 tests=RULE_PARTNER']);
      assert.deepEqual(h.all('X-Spam-Level'), ['']);
    });

    it('makes a released message say not spam, keeping why it was held and the rule\'s own X-Spam-Flag', async () => {
      const id = await send(gw, 'hold this sa-5');
      const held = header((await gw.gateway.runtime.queue.load(id, 'quarantine'))!.prepend + '\r\n');
      assert.deepEqual(held.all('X-Spam-Flag'), ['YES', 'YES'], 'held: the verdict\'s flag and the rule\'s');
      assert.deepEqual(held.all('X-Mailmoat-Spam-Level'), ['High']);
      const r = await moatQueue(gw.dataDir, 'release', id);
      assert.equal(r.code, 0, r.stderr);
      const h = header(await gw.sink.waitForText('sa-5'));
      assert.deepEqual(h.all('X-Spam-Flag'), ['YES'], 'the rule\'s, which is the admin\'s; the verdict\'s is gone');
      assert.ok(h.names.indexOf('X-Spam-Flag') > h.names.indexOf('X-Mailmoat-Verdict'), 'the one left is the rule\'s, after the verdict');
      assert.deepEqual(h.all('X-Spam-Status'), ['No, score=12.0 required=5.0 tests=RULE_HOLD']);
      assert.deepEqual(h.all('X-Spam-Level'), ['']);
      assert.deepEqual(h.all('X-Mailmoat-Spam'), ['No']);
      assert.deepEqual(h.all('X-Mailmoat-Spam-Level'), ['None']);
      assert.deepEqual(h.all('X-Mailmoat-Spam-Score'), ['12']);
      assert.match(h.all('X-Mailmoat-Verdict')[0], /^quarantine; score=12; level=High; /, 'why it was held stays');
      assert.match(h.all('X-Mailmoat-Released')[0], /^from quarantine by the administrator/);
    });
  });

  describe('with SpamAssassin\'s fields off (the default)', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startRelayingGateway({ config: { scores: SCORES, plugins: [RULES] } }); });
    after(() => gw?.stop());

    it('writes none of them and leaves the client\'s as they were, as before the option', async () => {
      await send(gw, 'cheap pills offer off-1', { headers: FORGED });
      const h = header(await gw.sink.waitForText('off-1'));
      assert.deepEqual(h.all('X-Spam-Flag'), ['NO'], 'the client\'s, passed on');
      assert.deepEqual(h.all('X-Spam-Status'), ['No, score=-5.0 required=5.0 tests=ALL_TRUSTED']);
      assert.deepEqual(h.all('X-Spam-Report'), ['forged, far down']);
      assert.deepEqual(h.all('X-Mailmoat-Spam'), ['Yes'], 'the client\'s X-Mailmoat-Spam is removed as always');
      assert.deepEqual(h.names.slice(0, 5), ['Received', 'X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level']);
    });

    it('says Level None beside No for a rule\'s accept', async () => {
      await send(gw, 'partner news off-2');
      const h = header(await gw.sink.waitForText('off-2'));
      assert.deepEqual(h.all('X-Mailmoat-Spam'), ['No']);
      assert.deepEqual(h.all('X-Mailmoat-Spam-Level'), ['None']);
    });
  });

  describe('with SpamAssassin\'s fields alone, and mail to the world without the verdict\'s', () => {
    let gw: RelayingGateway;
    before(async () => {
      gw = await startRelayingGateway({ config: {
        scores: SCORES, plugins: [RULES], relay: { networks: ['127.0.0.1/32'] },
        headers: { spam_fields: 'spamassassin', outbound_without_verdict: ['relay_networks'] },
      } });
    });
    after(() => gw?.stop());

    it('writes SpamAssassin\'s fields in place of the X-Mailmoat-Spam ones, beside the verdict\'s field', async () => {
      const d = await SmtpDialog.connect(gw.port);
      try {
        // From outside relay.networks (XCLIENT), so the mail is inbound and keeps the verdict's fields.
        assert.equal((await d.hello({ xclient: { addr: '192.0.2.7' } })).code, 250);
        assert.equal((await d.cmd('MAIL FROM:<shop@sender.example>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<ann@example.com>')).code, 250);
        assert.equal((await d.data(testMessage({ subject: 'cheap pills offer alone-1', headers: { 'X-Spam-Flag': 'NO' } }))).code, 250);
      } finally { await d.quit(); }
      const h = header(await gw.sink.waitForText('alone-1'));
      assert.deepEqual(h.all('X-Spam-Flag'), ['YES']);
      assert.deepEqual(h.all('X-Spam-Status'), ['Yes, score=7.2 required=5.0 tests=RULE_OFFER,RULE_PILLS']);
      assert.deepEqual(h.names.filter((n) => /^x-mailmoat-/i.test(n)), ['X-Mailmoat-Verdict']);
    });

    it('leaves SpamAssassin\'s fields out with the verdict\'s on mail to the world, the client\'s removed still', async () => {
      const id = await send(gw, 'cheap pills offer alone-2', { to: 'bob@elsewhere.example', headers: { 'X-Spam-Flag': 'NO' } });
      const h = header(await gw.sink.waitForText('alone-2'));
      assert.deepEqual(h.names.filter((n) => /^x-(mailmoat|spam)(-|$)/i.test(n)), [], 'no spam field of the gateway, none of the client');
      const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === id);
      assert.equal(summary?.verdict_headers, 'omitted');
      assert.equal(summary?.score, 7.2, 'judged all the same');
    });
  });
});
