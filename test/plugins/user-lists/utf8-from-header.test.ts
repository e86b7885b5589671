// A block list against From headers in raw UTF-8 (RFC 6532), as an SMTPUTF8 client writes them: the address is read
// as UTF-8, its local part compared case-insensitively and its domain in A-label form, whichever form the header
// used; a header in 8-bit Latin-1 (not UTF-8) still yields its ASCII address.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { openStore } from '../../../core/store/index.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { seed } from './session.ts';

const EMBEDDED = { backend: 'embedded' as const, redis: { url: '', prefix: '' }, purge_interval: 0 };

/** One SMTPUTF8 transaction from other@example.org to bob@example.com with `from` as the raw From header value. */
async function sendWithFrom(port: number, from: Buffer | string, subject: string): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.40' } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<other@example.org> SMTPUTF8')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<bob@example.com>')).code, 250);
    const message = Buffer.concat([
      Buffer.from('From: '), Buffer.isBuffer(from) ? from : Buffer.from(from, 'utf8'),
      Buffer.from(`\r\n${testMessage({ subject, to: 'bob@example.com' }).replace(/^From: .*\r\n/, '')}`),
    ]);
    return await c.data(message);
  } finally {
    await c.quit();
  }
}

describe('user-lists: From headers in UTF-8 (SMTPUTF8)', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  let store: StateStore;

  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'user-lists' }] } });
    store = await openStore(EMBEDDED, gw.dataDir);
    await seed(store, 'block', 'bob@example.com', 'пётр@xn--bcher-kva.example', '@xn--r8jz45g.jp', '@xn--mller-kva.example', 'latin@old.example');
  });
  after(async () => { await store?.close(); await gw?.stop(); });

  it('refuses with 550 5.7.1 a message whose only recipient blocks its UTF-8 From address, in either domain form', async () => {
    const froms = [
      'Пётр <Пётр@bücher.example>',
      '<Пётр@xn--bcher-kva.example>',
      '<m@müller.example>',
      '<taro@例え.jp>',
      'ПЁТР@BÜCHER.EXAMPLE',
    ];
    const got: string[] = [];
    for (const [i, from] of froms.entries()) {
      const r = await sendWithFrom(gw.port, from, `utf8-from-${i}`);
      got.push(`${from} → ${r.code} ${r.text.slice(0, 5)}`);
    }
    assert.deepEqual(got, froms.map((f) => `${f} → 550 5.7.1`));
    const dropped = gw.logs.find((l) => String(l.msg).startsWith('sender or author on the recipient\'s block list') && l.entry === 'пётр@xn--bcher-kva.example');
    assert.equal(dropped?.matched, 'пётр@xn--bcher-kva.example', 'the log names the address in the form the entry is kept');
  });

  it('delivers a UTF-8 From address the list does not hold', async () => {
    const r = await sendWithFrom(gw.port, 'Павел <павел@bücher.example>', 'utf8-from-ok');
    assert.equal(r.code, 250, r.text);
    const raw = await gw.sink.waitForText('utf8-from-ok');
    assert.ok(Buffer.from(raw, 'latin1').toString('utf8').includes('Павел <павел@bücher.example>'), 'the From header is relayed as it came');
  });

  it('reads a From header in Latin-1 bytes (not UTF-8) as before: its ASCII address still meets the list', async () => {
    const latin1 = Buffer.from('Jörg Müller <latin@old.example>', 'latin1');
    const r = await sendWithFrom(gw.port, latin1, 'utf8-from-latin1');
    assert.equal(r.code, 550, r.text);
  });
});
