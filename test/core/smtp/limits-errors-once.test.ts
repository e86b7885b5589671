// A plugin's refusals of one cause count once per transaction toward limits.max_errors (Outcome.countsOnceAs): the
// greylisting deferrals of one message's recipients are one error, as Rspamd greylists a message once, while other
// refusals, a new transaction, and deferrals past limits.max_recipients still count.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { repeatsCountedCause } from '../../../core/smtp/limits-errors.ts';

const many = (n: number, tag: string) => Array.from({ length: n }, (_x, i) => `${tag}${i}@example.com`);

async function rcptCodes(d: SmtpDialog, addresses: string[]): Promise<number[]> {
  const codes = [];
  for (const a of addresses) {
    const r = await d.cmd(`RCPT TO:<${a}>`);
    codes.push(r.code);
    if (r.code === 421) break;
  }
  return codes;
}

describe('limits.max_errors and refusals of one cause in a transaction', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: {
      limits: { max_errors: 3 },
      access: { blocked_recipients: ['blocked@example.com'] },
      plugins: [{ name: 'greylist', delay: '10m', retry_window: '1h', remember: '1h' }],
    } });
  });
  after(() => gw.stop());

  it('counts a message\'s greylisted recipients as one error, and each new transaction\'s once more', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.44' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<news@sender.test>')).code, 250);
      assert.deepEqual(await rcptCodes(d, many(20, 'a')), Array(20).fill(451), 'twenty deferrals, one error of three');
      assert.equal((await d.cmd('RSET')).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<news@sender.test>')).code, 250);
      assert.deepEqual(await rcptCodes(d, many(20, 'b')), Array(20).fill(451), 'a second message: its first deferral is the second error');
      assert.equal((await d.cmd('RSET')).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<news@sender.test>')).code, 250);
      assert.deepEqual(await rcptCodes(d, many(5, 'c')), [451, 421], 'the third message\'s first deferral is the third error, the next RCPT gets the 421');
      await assert.rejects(d.read(3_000), /connection closed/);
      assert.equal(gw.logs.find((l) => l.msg === 'too many errors: disconnecting' && l.client === '203.0.113.44')?.error_count, 3);
    } finally { await d.quit(); }
  });

  it('still counts every other refusal of the transaction', async () => {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.45' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<news@sender.test>')).code, 250);
      assert.deepEqual(await rcptCodes(d, many(3, 'd')), [451, 451, 451]);
      assert.equal((await d.cmd('RCPT TO:<blocked@example.com>')).code, 550, 'a refusal of the core: the second error');
      assert.equal((await d.cmd('RCPT TO:<blocked@example.com>')).code, 550, 'and again: the third, answered as it is');
      assert.equal((await d.cmd('RCPT TO:<d9@example.com>')).code, 421, 'the next command is told');
    } finally { await d.quit(); }
  });
});

describe('repeatsCountedCause', () => {
  it('lets the first refusal of a cause count, not the next ones up to max_recipients, then each again', () => {
    const tx = {};
    const seq = Array.from({ length: 6 }, () => repeatsCountedCause(tx, 'greylist', 'greylisted', 4));
    assert.deepEqual(seq, [false, true, true, true, false, false]);
  });
  it('keeps causes apart by plugin, by cause and by transaction, and never holds back a refusal without one', () => {
    const tx = {};
    assert.equal(repeatsCountedCause(tx, 'greylist', 'greylisted', 100), false);
    assert.equal(repeatsCountedCause(tx, 'other', 'greylisted', 100), false);
    assert.equal(repeatsCountedCause(tx, 'greylist', 'another', 100), false);
    assert.equal(repeatsCountedCause({}, 'greylist', 'greylisted', 100), false);
    assert.equal(repeatsCountedCause(tx, 'greylist', undefined, 100), false);
    assert.equal(repeatsCountedCause(tx, 'greylist', undefined, 100), false);
    assert.equal(repeatsCountedCause(tx, 'greylist', 'greylisted', 100), true);
  });
});
