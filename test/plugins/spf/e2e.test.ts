// End to end for the spf plugin alone: null sender, local policy and an IPv6 client, over the loopback DNS server.
import assert from 'node:assert/strict';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import { openSession, startAuthGateway, type AuthGateway } from './e2e-setup.ts';

describe('spf end to end', function () {
  this.timeout(20_000);
  let gw: AuthGateway;

  before(async () => {
    gw = await startAuthGateway({
      'sender.test': {
        '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 ip6:2001:db8:25::/48 -all'] },
        'mail': { A: ['203.0.113.5'], TXT: ['v=spf1 a -all'] },
      },
    }, [{ name: 'spf', reject_fail: true, local_policy: 'ip4:198.51.100.77' }]);
  });

  after(async () => { await gw?.stop(); });

  async function deliver(ip: string, helo: string, from: string, subject: string): Promise<string> {
    const c = await openSession(gw.gw.port, ip, helo);
    const mf = await c.cmd(`MAIL FROM:<${from}>`);
    assert.equal(mf.code, 250, mf.text);
    assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
    const r = await c.data(testMessage({ from: 'x@sender.test', to: 'bob@receiver.test', subject }));
    assert.equal(r.code, 250, r.text);
    await c.quit();
    return gw.relayed(subject);
  }

  it('checks a null sender as postmaster@<HELO name>', async () => {
    const relayed = await deliver('203.0.113.5', 'mail.sender.test', '', 'spf-e2e-bounce');
    assert.match(relayed, /^Received-SPF: pass \(mx\.receiver\.test: domain of postmaster@mail\.sender\.test designates 203\.0\.113\.5 as permitted sender\) client-ip=203\.0\.113\.5; envelope-from=""; helo=mail\.sender\.test;/m);
  });

  it('lets the local policy pass a forwarder that the domain fails, despite reject_fail', async () => {
    const relayed = await deliver('198.51.100.77', 'fwd.example.net', 'bounce@sender.test', 'spf-e2e-forwarder');
    assert.match(relayed, /^Received-SPF: pass \(mx\.receiver\.test: domain of bounce@sender\.test designates 198\.51\.100\.77 as permitted sender local policy\)/m);
  });

  it('checks an IPv6 client named by XCLIENT', async () => {
    const relayed = await deliver('IPV6:2001:db8:25::9', 'v6.sender.test', 'bounce@sender.test', 'spf-e2e-ipv6');
    assert.match(relayed, /^Received-SPF: pass .* client-ip=2001:db8:25::9;/m);
  });
});
