// A spam trap among real recipients, in a real gateway: the trap's copy is dropped and the rules after the trap rule
// still judge the message for the others (an .exe is refused, a hold quarantines it for them alone, a legal-hold copy
// is made, a later `to` rule no longer sees the trap). And the start warns of a whitelist on a forgeable sender ahead
// of attachment rules. Real SMTP in, a recording smarthost out.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { sendRaw } from './timed-send.ts';

const send = (port: number, to: string[], message: string) => sendRaw(port, message, { to });

/** A message with an attachment named `file`. */
function withFile(subject: string, file: string): string {
  return [
    'From: a@elsewhere.example', 'To: alice@example.com', `Subject: ${subject}`, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="tb"', '',
    '--tb', 'Content-Type: text/plain', '', 'run this', '--tb', `Content-Type: application/octet-stream; name="${file}"`,
    `Content-Disposition: attachment; filename="${file}"`, 'Content-Transfer-Encoding: base64', '', Buffer.from('MZ program').toString('base64'), '--tb--', '',
  ].join('\r\n');
}

const TRAP = 'trap@example.com';
const ALICE = 'alice@example.com';
const qidOf = (r: SmtpReply) => /queued as (\S+)/.exec(r.text)?.[1];

describe('plugins/rules: a spam trap among the recipients, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'spamtrap', when: { to: { address: TRAP } }, actions: [{ score: 5 }, 'discard'] },
      { name: 'executables', when: { attachment: { name: '*.exe' } }, actions: [{ reject: 'Executable attachments are not accepted' }] },
      { name: 'hold', when: { subject: '^hold' }, actions: [{ quarantine: 'held for review' }] },
      { name: 'trap-seen', when: { to: { address: TRAP } }, actions: [{ add_header: { name: 'X-Trap-Seen', value: 'yes' } }] },
      { name: 'legal', when: { to: { address: ALICE } }, actions: [{ copy_to: 'legal@archive.example' }] },
      { name: 'vip', when: { from: '*@partner.example' }, actions: ['accept'] },
      { name: 'screensavers', when: { attachment: { name: '*.scr' } }, actions: [{ quarantine: 'screensaver' }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  // The recipient under `to` (a list, as the summary line has it) or, as logged before, `rcpt`.
  const discardedOf = (qid: string | undefined) => gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === qid)
    .map((l) => [Array.isArray(l.to) ? l.to.join(',') : l.rcpt, l.reason]);

  it('the rules after the trap rule still refuse an .exe for the other recipients', async () => {
    const r = await send(gw.port, [TRAP, ALICE], withFile('exe-with-trap', 'setup.exe'));
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Executable attachments are not accepted/);
    // And in the other order of recipients.
    assert.equal((await send(gw.port, [ALICE, TRAP], withFile('exe-with-trap-2', 'setup.exe'))).code, 550);
  });

  it('a later quarantine holds the message for the others alone; the trap is dropped, its rule\'s score not counted', async () => {
    const r = await send(gw.port, [TRAP, ALICE], testMessage({ subject: 'hold me' }));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const qid = qidOf(r)!;
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
    assert.equal(summary?.verdict, 'quarantine');
    assert.match(String(summary?.reason), /rule hold: held for review/);
    assert.ok(!(summary?.symbols as string[]).some((s) => s.startsWith('RULE_SPAMTRAP')), String(summary?.symbols));
    assert.deepEqual(discardedOf(qid), [[TRAP, 'rule spamtrap']]);
    const file = readdirSync(path.join(gw.dataDir, 'quarantine')).find((f) => f.startsWith(qid) && f.endsWith('.json'))!;
    const entry = JSON.parse(readFileSync(path.join(gw.dataDir, 'quarantine', file), 'utf8'));
    assert.deepEqual(entry.recipients.map((x: { address: string }) => x.address), [ALICE]);
  });

  it('delivered to the others with the later rules applied: the legal copy made, a `to` rule on the trap no longer matching', async () => {
    const r = await send(gw.port, [TRAP, ALICE], testMessage({ subject: 'plain with trap' }));
    assert.equal(r.code, 250);
    const raw = await gw.sink.waitForText('plain with trap');
    const m = gw.sink.messages.find((x) => x.raw.toString('latin1').includes('plain with trap'))!;
    assert.deepEqual(m.rcptTo, [ALICE, 'legal@archive.example']);
    assert.doesNotMatch(raw, /^X-Trap-Seen:/m);
    assert.deepEqual(discardedOf(qidOf(r)), [[TRAP, 'rule spamtrap']]);
  });

  it('a message to the trap alone is dropped whole, with the trap rule\'s score (the rules end there)', async () => {
    const r = await send(gw.port, [TRAP], withFile('trap-only', 'setup.exe'));
    assert.equal(r.code, 250);
    const qid = qidOf(r);
    assert.deepEqual(discardedOf(qid), [[TRAP, 'rule spamtrap']]);
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
    assert.ok((summary?.symbols as string[]).includes('RULE_SPAMTRAP(5)'), String(summary?.symbols));
  });

  it('warns at start of an accept on a forgeable sender before an attachment rule, and of nothing else', () => {
    const warnings = gw.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('plugins[0].'));
    assert.deepEqual(warnings.map((l) => l.msg), [
      'plugins[0].rules[5] (name "vip"): its accept rests on the sender a client writes (MAIL FROM or a From-type header), which anyone can forge, '
        + 'and ends the rules before screensavers, which refuses attachments: a forged sender\'s attachment gets past it. List the attachment '
        + 'rules first, or add a criterion a sender cannot forge (client_ip, authenticated, a symbol such as DMARC_PASS)',
    ]);
  });
});
