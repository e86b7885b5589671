// Forms of one address that must meet the same lists: a sender quoted needlessly, in another case, and a recipient
// written in Unicode under SMTPUTF8, whose lists `moat lists` keeps under the A-label form.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { openStore } from '../../../core/store/index.ts';
import type { StateStore } from '../../../core/store/types.ts';
import { seed } from './session.ts';

const EMBEDDED = { backend: 'embedded' as const, redis: { url: '', prefix: '' }, purge_interval: 0 };

describe('user-lists: forms of one address', function () {
  this.timeout(30_000);
  let gw: RelayingGateway;
  let store: StateStore;

  before(async () => {
    gw = await startRelayingGateway({ config: { domains: ['xn--bcher-kva.example'], plugins: [{ name: 'user-lists' }] } });
    store = await openStore(EMBEDDED, gw.dataDir);
    // What `moat lists block ann@bücher.example bad@evil.test` keeps.
    await seed(store, 'block', 'ann@bücher.example', 'bad@evil.test');
  });
  after(async () => { await store?.close(); await gw?.stop(); });

  async function rcptReply(mail: string, rcpt: string): Promise<number> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
      assert.equal((await c.cmd(mail)).code, 250, mail);
      return (await c.cmd(rcpt)).code;
    } finally {
      await c.quit();
    }
  }

  it('refuses the blocked sender however the sender and the recipient are written', async () => {
    const cases: Array<[string, string]> = [
      ['MAIL FROM:<bad@evil.test>', 'RCPT TO:<ann@xn--bcher-kva.example>'],
      ['MAIL FROM:<BAD@Evil.TEST>', 'RCPT TO:<Ann+news@xn--bcher-kva.example>'],
      ['MAIL FROM:<"bad"@evil.test>', 'RCPT TO:<ann@xn--bcher-kva.example>'],
      ['MAIL FROM:<bad@evil.test> SMTPUTF8', 'RCPT TO:<ann@bücher.example>'],
      ['MAIL FROM:<bad@evil.test> SMTPUTF8', 'RCPT TO:<ann@xn--bcher-kva.example>'],
    ];
    const got = [];
    for (const [mail, rcpt] of cases) got.push(`${mail} ${rcpt} → ${await rcptReply(mail, rcpt)}`);
    assert.deepEqual(got, cases.map(([mail, rcpt]) => `${mail} ${rcpt} → 550`));
    assert.equal(await rcptReply('MAIL FROM:<good@evil.test> SMTPUTF8', 'RCPT TO:<ann@bücher.example>'), 250);
  });
});
