// Addresses beyond ASCII at the access lists and the recipients file, end to end: a local part written decomposed
// (o and a combining diaeresis) is the mailbox its composed (NFC) spelling names, so it neither slips past
// blocked_senders nor is refused as unknown where the recipients file lists it; and bidi controls and other
// invisible characters in an address are refused at MAIL and RCPT, as smtp-server already refuses U+200B.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

/** The dialog reads replies as latin1: this gives back the UTF-8 the gateway wrote. */
const said = (r: SmtpReply) => `${r.code} ${Buffer.from(r.text, 'latin1').toString('utf8')}`;

describe('Unicode local parts at the access lists and the recipients file', function () {
  this.timeout(30_000);
  let dir: string;
  let end: () => void;
  let gw: RelayingGateway;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-unicode-lists-'));
    end = holdUntilExit({ dir });
    const file = path.join(dir, 'relay_recipients');
    writeFileSync(file, 'jürgen@müller.example OK\nanna@müller.example OK\n');
    gw = await startRelayingGateway({ config: {
      domains: ['müller.example'],
      access: { recipients_file: file, blocked_senders: ['jörg@müller.example'], blocked_recipients: ['zoë@müller.example'] },
    } });
  });
  after(async () => {
    await gw?.stop();
    end();
  });

  /** The replies to MAIL FROM (with SMTPUTF8) and to each RCPT, in one transaction. */
  async function envelope(from: string, to: string[]): Promise<string[]> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      const replies = [said(await d.cmd(`MAIL FROM:<${from}> SMTPUTF8`))];
      if (!replies[0].startsWith('250')) return replies;
      for (const t of to) replies.push(said(await d.cmd(`RCPT TO:<${t}>`)));
      return replies;
    } finally { await d.quit(); }
  }

  it('blocks a blocked sender written decomposed, in upper case, or with the domain in A-labels', async () => {
    for (const from of ['jo\u0308rg@müller.example', 'JO\u0308RG@MU\u0308LLER.EXAMPLE', 'jörg@xn--mller-kva.example']) {
      const [mail] = await envelope(from, []);
      assert.match(mail, /^550 5\.7\.1 <[^>]+>: Sender address rejected: Access denied$/, from);
    }
    // Another mailbox of the domain is not blocked.
    assert.equal((await envelope('jürgen@müller.example', []))[0], '250 2.1.0 Accepted');
  });

  it('takes a listed recipient written decomposed, refuses a blocked one so written, and relays it as sent', async () => {
    const replies = await envelope('ann@example.org', ['ju\u0308rgen@müller.example', 'JU\u0308RGEN@xn--mller-kva.example', 'zoe\u0308@müller.example', 'otto@müller.example']);
    assert.deepEqual(replies.map((r) => r.slice(0, 3)), ['250', '250', '250', '550', '550']);
    assert.match(replies[3], /Recipient address rejected: Access denied/);
    assert.match(replies[4], /User unknown in relay recipient table/);
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<ann@example.org> SMTPUTF8')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<ju\u0308rgen@müller.example>')).code, 250);
      assert.equal((await d.data(testMessage())).code, 250);
    } finally { await d.quit(); }
    const [m] = await gw.sink.waitFor(1);
    // The local part as the client wrote it (the mailbox's own server decides what it makes of it); the domain in
    // A-labels, which the recording smarthost (smtp-server) hands over decoded.
    assert.deepEqual(m.rcptTo, ['ju\u0308rgen@müller.example']);
  });
});

describe('invisible characters in an envelope address', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway({ config: { domains: ['example.com'] } }); });
  after(async () => { await gw?.stop(); });

  // A right-to-left override shows `admin\u202Emoc.knab@evil.example` as admin…bank.com; the others are as invisible.
  const HIDDEN = [
    ['U+202E right-to-left override', 'admin\u202emoc.knab'],
    ['U+2066 left-to-right isolate', 'a\u2066b'],
    ['U+200E left-to-right mark', 'a\u200eb'],
    ['U+061C Arabic letter mark', 'a\u061cb'],
    ['U+00AD soft hyphen', 'ad\u00admin'],
    ['U+FE0F variation selector', 'a\ufe0fb'],
  ] as const;

  it('refuses each at MAIL FROM with 501 5.1.7 and at RCPT TO with 501 5.1.3, naming the code point', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      await d.hello({ xclient: { addr: '192.0.2.50' } });
      for (const [name, local] of HIDDEN) {
        const code = name.split(' ')[0];
        assert.equal(said(await d.cmd(`MAIL FROM:<${local}@evil.example> SMTPUTF8`)), `501 5.1.7 Bad sender address syntax: ${code} is an invisible or control character`, name);
      }
      assert.equal((await d.cmd('MAIL FROM:<ann@sender.example> SMTPUTF8')).code, 250);
      const [name, local] = HIDDEN[0];
      assert.equal(said(await d.cmd(`RCPT TO:<${local}@example.com>`)), `501 5.1.3 Bad recipient address syntax: ${name.split(' ')[0]} is an invisible or control character`);
      // One hidden in the domain is refused too; a zero-width non-joiner, which some scripts write words with, is not.
      assert.equal((await d.cmd('RCPT TO:<user@exa\u202emple.com>')).code, 501);
      assert.equal((await d.cmd('RCPT TO:<\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645@example.com>')).code, 250);
    } finally { await d.quit(); }
    const refused = gw.logs.filter((l) => l.msg === 'sender refused' && l.client === '192.0.2.50');
    assert.equal(refused.length, HIDDEN.length);
    assert.equal(refused[0].reason, 'invisible or control character');
  });
});
