// A `to: { regex }` criterion sees the recipients an earlier discard left, as `to`'s other matchers do: its regex runs
// in the regex thread once per message, but is answered per recipient. And a discard on a `to` regex drops only the
// recipients it matches. Real SMTP in, the real regex thread, a recording smarthost out.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { sendRaw } from './timed-send.ts';

const TRAP = 'trap@example.com';
const HONEY = 'honey@example.com';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const qidOf = (r: SmtpReply) => /queued as (\S+)/.exec(r.text)?.[1];

describe('plugins/rules: a later `to` regex after a discard, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'spamtrap', when: { to: { address: TRAP } }, actions: ['discard'] },
      { name: 'honeypot', when: { to: { regex: '^honey@' } }, actions: ['discard'] },
      { name: 'dropped-seen', when: { to: { regex: '^(trap|honey)' } }, actions: [{ reject: 'A dropped recipient was still seen' }] },
      { name: 'alice-seen', when: { to: [{ regex: '^alice@' }, { address: 'nobody@example.com' }] }, actions: [{ add_header: { name: 'X-Alice-Seen', value: 'yes' } }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  const discardedOf = (qid: string | undefined) => gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === qid)
    .map((l) => [(l.to as string[]).join(','), l.reason]);
  const relayed = (subject: string) => gw.sink.messages.find((m) => m.raw.toString('latin1').includes(`Subject: ${subject}\r\n`));

  it('a regex on `to` after a trap rule no longer sees the trap, and still sees the others', async () => {
    const r = await sendRaw(gw.port, testMessage({ subject: 'trap and alice' }), { to: [TRAP, ALICE] });
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const raw = await gw.sink.waitForText('trap and alice');
    assert.deepEqual(relayed('trap and alice')?.rcptTo, [ALICE]);
    assert.match(raw, /^X-Alice-Seen: yes\r$/m);
    assert.deepEqual(discardedOf(qidOf(r)), [[TRAP, 'rule spamtrap']]);
  });

  it('a discard on a `to` regex drops only the recipients it matches, and the later regex rules judge the rest', async () => {
    const r = await sendRaw(gw.port, testMessage({ subject: 'honey and bob' }), { to: [HONEY, BOB] });
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    await gw.sink.waitForText('honey and bob');
    assert.deepEqual(relayed('honey and bob')?.rcptTo, [BOB]);
    assert.deepEqual(discardedOf(qidOf(r)), [[HONEY, 'rule honeypot']]);
  });

  it('with both dropped, alice alone is judged: no refusal, her header added', async () => {
    const r = await sendRaw(gw.port, testMessage({ subject: 'all three' }), { to: [HONEY, ALICE, TRAP] });
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const raw = await gw.sink.waitForText('all three');
    assert.deepEqual(relayed('all three')?.rcptTo, [ALICE]);
    assert.match(raw, /^X-Alice-Seen: yes\r$/m);
    assert.deepEqual(discardedOf(qidOf(r)).sort(), [[HONEY, 'rule honeypot'], [TRAP, 'rule spamtrap']]);
  });

  it('the later regex still matches a recipient left that it fits', async () => {
    const r = await sendRaw(gw.port, testMessage({ subject: 'honeycomb' }), { to: [HONEY, 'honeycomb@example.com'] });
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /A dropped recipient was still seen/);
  });

  it('a message to the honeypot alone is dropped whole, and no later rule saw it', async () => {
    const r = await sendRaw(gw.port, testMessage({ subject: 'honey alone' }), { to: [HONEY] });
    assert.equal(r.code, 250);
    assert.deepEqual(discardedOf(qidOf(r)), [[HONEY, 'rule honeypot']]);
    assert.deepEqual(gw.logs.filter((l) => l.msg === 'rule matched' && l.rule === 'dropped-seen').length, 1, 'dropped-seen matched more than the honeycomb message');
  });
});
