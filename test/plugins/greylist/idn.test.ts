// Internationalized domains in greylisting: under SMTPUTF8 a client may write a domain in Unicode or in A-labels, and
// a retry in the other spelling is the same triplet; skip lists match either spelling. Real gateway, real SMTP.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { MemoryStore } from '../../../core/store/memory-store.ts';
import { Greylister, tripletId, waitKey } from '../../../plugins/greylist/greylister.ts';
import { comparableAddress } from '../../../core/text/idn-address.ts';

describe('greylist triplet keys of internationalized domains', () => {
  it('keys an ASCII triplet as before, so the entries stored by an older version keep matching', () => {
    assert.equal(tripletId({ client: '192.0.2.0/24', sender: 'a@example.com', rcpt: 'b@example.net' }), '192.0.2.0/24 a@example.com b@example.net');
    assert.equal(tripletId({ client: '192.0.2.0/24', sender: '<>', rcpt: '"a b"@example.net' }), '192.0.2.0/24 <> "a%20b"@example.net');
  });

  it('gives the Unicode, A-label and decomposed spellings of a domain one key, for the sender and the recipient', () => {
    const client = '192.0.2.0/24';
    const key = tripletId({ client, sender: 'ann@xn--bcher-kva.example', rcpt: 'taro@xn--r8jz45g.jp' });
    assert.equal(tripletId({ client, sender: 'ann@bücher.example', rcpt: 'taro@例え.jp' }), key);
    assert.equal(tripletId({ client, sender: 'ann@bu\u0308cher.example', rcpt: 'taro@XN--R8JZ45G.jp' }), key);
    // A local part beyond ASCII stays as written: only the domain has a second spelling.
    assert.equal(tripletId({ client, sender: '<>', rcpt: 'пётр@例え.jp' }), `${client} <> пётр@xn--r8jz45g.jp`);
  });

  it('lets a retry in the other spelling pass after the delay (the state machine over a store)', async () => {
    let clock = 1_700_000_000_000;
    const store = new MemoryStore();
    const g = new Greylister(store, { delay: 60_000, retryWindow: 86_400_000, remember: 86_400_000, rememberBy: 'triplet' }, () => clock);
    const asSent = { client: '192.0.2.0/24', sender: 'gk@example.org', rcpt: 'taro@xn--r8jz45g.jp' };
    assert.equal((await g.check(asSent)).action, 'defer');
    assert.notEqual(await store.get(waitKey({ ...asSent, rcpt: 'taro@例え.jp' })), null);
    clock += 61_000;
    const retry = await g.check({ ...asSent, rcpt: 'taro@例え.jp' });
    assert.equal(retry.action, 'passed');
    await g.recordPass({ ...asSent, rcpt: 'taro@例え.jp' }, clock - 61_000);
    assert.deepEqual(await g.check(asSent), { action: 'known', by: 'triplet' });
  });
});

describe('greylist over SMTP with internationalized domains', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      config: {
        domains: ['例え.jp', 'müller.example', 'bücher.example', 'example.com'],
        plugins: [{
          name: 'greylist', delay: '1h',
          skip_recipients: ['postmaster@', 'info@müller.example'],
          skip_recipient_domains: ['xn--bcher-kva.example'],
          skip_sender_domains: ['.ñandú.example'],
        }],
      },
    });
  });
  after(async () => { await gw?.stop(); });

  /** One attempt from `ip` with SMTPUTF8 on MAIL FROM; DATA only when the recipient was taken. */
  async function attempt(ip: string, from: string, to: string): Promise<SmtpReply> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: ip, helo: 'sender.test' } })).code, 250);
      assert.equal((await c.cmd(`MAIL FROM:<${from}> SMTPUTF8`)).code, 250);
      const rcpt = await c.cmd(`RCPT TO:<${to}>`);
      if (rcpt.code === 250) assert.equal((await c.data(testMessage({ from: 'gk@example.org', to: 'someone@example.com' }))).code, 250);
      return rcpt;
    } finally {
      await c.quit();
    }
  }

  // The recipients are the log line's `to`, a list on every line, each with its domain in A-labels as the front door
  // takes it (core/smtp/address-form.ts).
  const about = (l: Record<string, unknown>, rcpt: string) => Array.isArray(l.to) && l.to.includes(comparableAddress(rcpt));
  const greylisted = (rcpt: string) => gw.logs.filter((l) => l.msg === 'greylisted' && about(l, rcpt));
  const skipped = (rcpt: string) => gw.logs.filter((l) => l.msg === 'greylist skipped' && about(l, rcpt)).at(-1)?.reason;

  it('takes a retry to the Unicode spelling for the triplet that waited in A-labels (it started a new wait)', async () => {
    const first = await attempt('203.0.113.40', 'gk@example.org', 'taro@xn--r8jz45g.jp');
    assert.equal(first.code, 451, first.text);
    assert.equal(greylisted('taro@xn--r8jz45g.jp').at(-1)?.first, true);
    const again = await attempt('203.0.113.41', 'gk@example.org', 'taro@例え.jp');
    assert.equal(again.code, 451, again.text);
    assert.equal(greylisted('taro@例え.jp').at(-1)?.first, false, 'the retry found the waiting triplet');
  });

  it('takes a sender domain written in the other spelling for the same sender', async () => {
    assert.equal((await attempt('203.0.113.50', 'ann@bücher.example', 'hanako@例え.jp')).code, 451);
    assert.equal(greylisted('hanako@例え.jp').at(-1)?.first, true);
    assert.equal((await attempt('203.0.113.50', 'ann@xn--bcher-kva.example', 'hanako@例え.jp')).code, 451);
    assert.equal(greylisted('hanako@例え.jp').at(-1)?.first, false);
  });

  it('skips a recipient listed in Unicode when it is written in A-labels, or with a combining mark', async () => {
    for (const to of ['info@xn--mller-kva.example', 'info@mu\u0308ller.example', 'INFO@MÜLLER.example']) {
      const r = await attempt('203.0.113.60', 'gk@example.org', to);
      assert.equal(r.code, 250, `${to}: ${r.code} ${r.text}`);
      assert.equal(skipped(to), 'recipient', to);
    }
    // The control: another local part of the domain is greylisted.
    assert.equal((await attempt('203.0.113.60', 'gk@example.org', 'sales@xn--mller-kva.example')).code, 451);
  });

  it('skips a recipient domain listed in A-labels when it is written in Unicode', async () => {
    const r = await attempt('203.0.113.61', 'gk@example.org', 'shop@bücher.example');
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    assert.equal(skipped('shop@bücher.example'), 'recipient domain');
  });

  it('skips a sender under a domain listed in Unicode when it writes it in A-labels', async () => {
    const r = await attempt('203.0.113.62', 'list@mx.xn--and-6ma2c.example', 'sales@example.com');
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    assert.equal(skipped('sales@example.com'), 'sender domain');
  });
});
