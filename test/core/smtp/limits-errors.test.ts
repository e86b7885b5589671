// limits.max_errors counts every 4xx and 5xx refusal at RCPT, as Postfix's smtpd_hard_error_limit does, but a
// transaction's greylisting deferrals count once up to limits.max_recipients of them (limits-errors-once.test.ts has
// the rest). The 452 4.5.3 that asks a client to send the rest in a new transaction (limits.max_recipients, bayes
// split_recipients) is not counted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { trainedFilter } from '../../plugins/bayes/fixtures.ts';
import { countsAsError } from '../../../core/smtp/limits-errors.ts';

/** Sends RCPTs one by one until the connection is dropped; returns every reply. */
async function rcpts(d: SmtpDialog, addresses: string[]): Promise<Array<{ code: number; text: string }>> {
  const replies = [];
  for (const a of addresses) {
    const r = await d.cmd(`RCPT TO:<${a}>`);
    replies.push(r);
    if (r.code === 421) break;
  }
  return replies;
}

const many = (n: number, domain = 'example.com') => Array.from({ length: n }, (_x, i) => `user${i}@${domain}`);

describe('limits.max_errors and 4xx refusals at RCPT', function () {
  this.timeout(30_000);
  let gw: TestGateway | undefined;
  afterEach(async () => { await gw?.stop(); gw = undefined; });

  it('drops a client greylisted (451 4.7.1) for more recipients than limits.max_recipients: each one past it counts', async () => {
    gw = await startGateway({ config: { limits: { max_recipients: 5 }, plugins: [{ name: 'greylist', delay: '10m', retry_window: '1h', remember: '1h' }] } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.40' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<bulk@sender.test>')).code, 250);
      const replies = await rcpts(d, many(50));
      // The first deferral counts, the next four (up to max_recipients) do not, then each counts: 1 + 9 = 10 at the 14th,
      // which is still answered as it is, the 421 right behind it.
      assert.deepEqual(replies.slice(0, 14).map((r) => r.code), Array(14).fill(451), 'the first fourteen are greylisted');
      assert.match(replies[0].text, /^4\.7\.1 /);
      assert.equal(replies.length, 15, 'dropped after the tenth counted refusal, not after fifty');
      assert.equal(replies[14].code, 421);
      assert.match(replies[14].text, /^4\.7\.0 Too many errors/);
      await assert.rejects(d.read(3_000), /connection closed/);
      const line = gw.logs.find((l) => l.msg === 'too many errors: disconnecting');
      assert.equal(line?.error_count, 10);
    } finally { await d.quit(); }
  });

  it('does not count 452 4.5.3 for recipients over limits.max_recipients: the client sends them in a new transaction', async () => {
    gw = await startGateway({ config: { limits: { max_recipients: 2, max_errors: 3 } } });
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr: '203.0.113.41' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<list@sender.test>')).code, 250);
      const replies = await rcpts(d, many(12));
      assert.deepEqual(replies.map((r) => r.code), [250, 250, ...Array(10).fill(452)]);
      assert.match(replies[2].text, /^4\.5\.3 Too many recipients/);
      assert.equal((await d.data(testMessage())).code, 250);
      // The next transaction takes the rest, on the same connection.
      assert.equal((await d.cmd('MAIL FROM:<list@sender.test>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user2@example.com>')).code, 250);
      assert.equal(gw.logs.some((l) => l.msg === 'too many errors: disconnecting'), false);
    } finally { await d.quit(); }
  });

  describe('with bayes split_recipients', () => {
    let dir: string;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'limits-errors-bayes-'));
      await saveDictionary(path.join(dir, 'shared.tab'), trainedFilter().dict);
      await saveDictionary(path.join(dir, 'sales.tab'), trainedFilter().dict);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('does not count its 452 4.5.3 (recipients of another dictionary go in another transaction)', async () => {
      gw = await startGateway({ config: {
        domains: ['example.com', 'sales.example.com'], limits: { max_errors: 3 },
        plugins: [{
          name: 'bayes', dictionary: path.join(dir, 'shared.tab'), seed: 'none', min_learned: 10, split_recipients: true,
          recipient_dictionaries: [{ recipients: ['@sales.example.com'], dictionary: path.join(dir, 'sales.tab') }],
        }],
      } });
      const d = await SmtpDialog.connect(gw.port);
      try {
        assert.equal((await d.hello({ xclient: { addr: '203.0.113.42' } })).code, 250);
        assert.equal((await d.cmd('MAIL FROM:<buyer@sender.test>')).code, 250);
        const replies = await rcpts(d, ['first@example.com', ...many(8, 'sales.example.com')]);
        assert.deepEqual(replies.map((r) => r.code), [250, ...Array(8).fill(452)]);
        assert.match(replies[1].text, /^4\.5\.3 /);
        assert.equal((await d.data(testMessage())).code, 250);
        assert.equal(gw.logs.some((l) => l.msg === 'too many errors: disconnecting'), false);
      } finally { await d.quit(); }
    });
  });
});

describe('which refusals count toward limits.max_errors', () => {
  it('counts every 5xx and every 4xx but flow control (452 4.5.3) and our own trouble (4.3.x)', () => {
    assert.equal(countsAsError(550, '5.7.1 Relay access denied'), true);
    assert.equal(countsAsError(554, ['5.7.1 first line', '5.7.1 second']), true);
    assert.equal(countsAsError(451, '4.7.1 Greylisted, please try again later'), true);
    assert.equal(countsAsError(450, 'no enhanced code'), true);
    assert.equal(countsAsError(452, '4.5.3 Too many recipients'), false);
    assert.equal(countsAsError(452, '4.2.2 Mailbox full'), true);
    assert.equal(countsAsError(451, '4.3.0 Temporary local problem, please try again later'), false);
    assert.equal(countsAsError(250, '2.1.5 OK'), false);
  });
});
