// A message a person released from the quarantine is delivered as wanted mail: X-Mailmoat-Spam says No (a mail server
// behind that files Yes as junk would put it back there), while the verdict, score and level that held it stay.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { moatQueue } from '../queue/moat-queue.ts';

describe('the headers of a message released from the quarantine', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'], scores: { add_header: 5, quarantine: 10, reject: 20 },
      plugins: [{ name: 'rules', rules: [{ name: 'pills', when: { subject: 'pills' }, actions: [{ score: 12 }] }] }],
    } });
  });
  after(() => g.stop());

  async function quarantined(to: string[]): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from: 'shop@pharma.example', to, subject: 'cheap pills', text: 'order now' });
      const id = /queued as (\S+)/.exec(info.response)![1];
      const stored = await g.gateway.runtime.queue.load(id, 'quarantine');
      assert.match(stored!.prepend, /^X-Mailmoat-Spam: Yes\r$/m, 'held as spam by its score');
      return id;
    } finally { t.close(); }
  }

  it('says No after a release of the whole message and after a release for one recipient, keeping why it was held', async () => {
    const whole = await quarantined(['ann@example.com']);
    assert.equal((await moatQueue(g.dataDir, 'release', whole)).code, 0);
    const split = await quarantined(['bob@example.com', 'cy@example.com']);
    assert.equal((await moatQueue(g.dataDir, 'release', split, '--recipient', 'bob@example.com')).code, 0);
    const delivered = await g.sink.waitFor(2);
    for (const m of delivered) {
      const raw = m.raw.toString('latin1');
      assert.match(raw, /^X-Mailmoat-Spam: No\r$/m, `${m.rcptTo}: released mail is not marked spam`);
      assert.doesNotMatch(raw, /^X-Mailmoat-Spam: Yes/m);
      assert.match(raw, /^X-Mailmoat-Verdict: quarantine; score=12/m, 'the verdict that held it stays');
      assert.match(raw, /^X-Mailmoat-Spam-Score: 12\r$/m);
      assert.match(raw, /^X-Mailmoat-Released: from quarantine by the administrator/m);
    }
    // Cy's copy is still held, and still says what it was judged.
    assert.match((await g.gateway.runtime.queue.load(split, 'quarantine'))!.prepend, /^X-Mailmoat-Spam: Yes\r$/m);
  });
});
