// A gateway configured with just `{ name: bayes }`: the shipped default dictionary is copied under data_dir
// and scores real-looking spam and ham through SMTP.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const SPAM = 'Subject: seed-spam cheap viagra online pharmacy\r\nFrom: Deals <deals@promo.test>\r\n\r\nbuy cheap viagra and cialis from our online pharmacy, no prescription needed. click here to order now and save 80%. to unsubscribe from this mailing list click here\r\n';
const HAM = 'Subject: seed-ham re: meeting notes for tuesday\r\nFrom: Vince <vince@partner.test>\r\n\r\nhi shirley, please find attached the notes from our meeting. we will discuss the research group budget and the model review on tuesday. thanks, vince\r\n';

describe('bayes with the shipped default dictionary', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;

  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes' }] } });
  });
  after(async () => {
    await gw?.stop();
  });

  async function verdictOf(raw: string): Promise<string> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<x@sender.test>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<bob@example.com>')).code, 250);
      assert.equal((await c.data(raw)).code, 250);
    } finally {
      await c.quit();
    }
    const marker = /^Subject: (\S+)/m.exec(raw)![1];
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      const hit = gw.sink.messages.find((m) => m.raw.toString('latin1').includes(marker));
      if (hit) return /^X-Mailmoat-Verdict: (.*)$/m.exec(hit.raw.toString('latin1'))?.[1] ?? '';
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${marker} was not relayed`);
  }

  it('seeds <data_dir>/bayes/dictionary.tab from dictionaries/default.tab', () => {
    const copy = path.join(gw.dataDir, 'bayes', 'dictionary.tab');
    const shipped = path.resolve(import.meta.dirname, '../../../dictionaries/default.tab');
    assert.equal(fs.statSync(copy).size, fs.statSync(shipped).size);
  });

  it('scores spam as BAYES_SPAM_99, tagged at the default add_header, and ham as BAYES_HAM_99', async () => {
    assert.match(await verdictOf(SPAM), /^add_header; .*BAYES_SPAM_99\(7\)/);
    assert.match(await verdictOf(HAM), /^accept; .*BAYES_HAM_99\(-1\.5\)/);
  });
});
