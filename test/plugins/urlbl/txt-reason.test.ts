// `{txt}` in the urlbl refusal text: the list's TXT record for the listed host, asked with its A record only when the
// text uses it, and never a reason to change the answer when it is missing or fails.
import assert from 'node:assert/strict';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

describe('plugins/urlbl: the TXT record in the refusal text ({txt})', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let withTxt: TestGateway;
  let withoutTxt: TestGateway;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        'dbl.test': {
          'spam.example': { A: '127.0.1.2', TXT: 'https://dbl.test/lookup/spam.example\r\n' },
          'bare.example': { A: '127.0.1.2' },
          'broken.example': { A: '127.0.1.2', TXT: 'never seen: the TXT question fails' },
        },
        'ipbl.test': { '5.113.0.203': { A: '127.0.0.2', TXT: 'IP 203.0.113.5 sends spam' } },
        'score.test': { 'scored.example': { A: '127.0.0.2', TXT: 'not asked for' } },
      },
      behaviours: { 'broken.example.dbl.test': { rcode: 'SERVFAIL', types: ['TXT'] } },
    });
    const zones = [
      { zone: 'dbl.test', action: 'reject' },
      { zone: 'ipbl.test', type: 'ip', action: 'reject' },
      { zone: 'score.test', score: 1 },
    ];
    const dnsCfg = { servers: [dns.address], timeout: '300ms', tries: 1 };
    withTxt = await startGateway({ config: { dns: dnsCfg, plugins: [{ name: 'urlbl', zones, text: 'Link to {host} refused ({zone}): {txt}' }] } });
    withoutTxt = await startGateway({ config: { dns: dnsCfg, plugins: [{ name: 'urlbl', zones }] } });
  });
  after(async () => { await withTxt?.stop(); await withoutTxt?.stop(); await dns?.stop(); });
  beforeEach(() => dns.resetQueries());

  /** The DATA reply of one message whose body links `url`. */
  async function sendLink(gw: TestGateway, url: string): Promise<SmtpReply> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<joe@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      return await d.data(testMessage({ from: 'joe@client.example', to: 'user@example.com', body: `Look at ${url} now\r\n` }));
    } finally {
      await d.quit();
    }
  }

  async function typesAsked(name: string): Promise<string[]> {
    return (await dns.queries()).filter((q) => q.name === name).map((q) => q.type).sort();
  }

  it('the 554 carries the domain list\'s TXT record, asked with the A record', async () => {
    const r = await sendLink(withTxt, 'http://www.spam.example/offer');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.text, '5.7.1 Link to spam.example refused (dbl.test): https://dbl.test/lookup/spam.example');
    assert.deepEqual(await typesAsked('spam.example.dbl.test'), ['A', 'TXT']);
  });

  it('and the IP list\'s for a link written with an IP', async () => {
    const r = await sendLink(withTxt, 'http://203.0.113.5/x');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.text, '5.7.1 Link to 203.0.113.5 refused (ipbl.test): IP 203.0.113.5 sends spam');
  });

  it('a listing without a TXT record, or whose TXT question fails, is still refused', async () => {
    for (const host of ['bare.example', 'broken.example']) {
      const r = await sendLink(withTxt, `https://${host}/`);
      assert.equal(r.code, 554, `${host}: ${r.code} ${r.text}`);
      assert.equal(r.text, `5.7.1 Link to ${host} refused (dbl.test):`);
    }
  });

  it('TXT is not asked for by a zone that only scores, nor when the text does not use it', async () => {
    const scored = await sendLink(withTxt, 'https://scored.example/');
    assert.equal(scored.code, 250, scored.text);
    assert.deepEqual(await typesAsked('scored.example.score.test'), ['A']);
    const r = await sendLink(withoutTxt, 'http://www.spam.example/offer');
    assert.equal(r.code, 554, r.text);
    assert.equal(r.text, '5.7.1 Message contains a link to spam.example, listed at dbl.test');
    // The other gateway's resolver has its own cache: this A question went out again, and no TXT one with it.
    assert.deepEqual(await typesAsked('spam.example.dbl.test'), ['A']);
  });
});
