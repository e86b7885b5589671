// Greylisting and SPF over real SMTP and a real DNS server on loopback: by default an SPF pass exempts nothing (as in
// Postgrey and Rspamd), and with skip_spf_pass on, a pass the domain gives to every address (`+all`, directly or
// through an include, or a range wider than /8) still does not, and none earns a negative score.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { deliver, symbolsOf } from './session.ts';

describe('greylist and SPF pass', function () {
  this.timeout(20_000);
  let dns: DnsTestServer;
  let byDefault: TestGateway;
  let skipping: TestGateway;

  const gateway = (greylist: Record<string, unknown>) => startGateway({
    config: {
      domains: ['example.com'],
      dns: { servers: [dns.address], timeout: 500, tries: 1 },
      plugins: [{ name: 'spf', check_helo: false, header: false }, { name: 'greylist', delay: '1h', ...greylist }],
    },
  });

  before(async () => {
    dns = await startDnsServer({
      zones: {
        'spf-ok.test': { '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] } },
        'plusall.test': { '@': { TXT: ['v=spf1 +all'] } },
        'included.test': { '@': { TXT: ['v=spf1 include:plusall.test -all'] } },
        'wide.test': { '@': { TXT: ['v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all'] } },
      },
      ttl: 5,
    });
    byDefault = await gateway({});
    skipping = await gateway({ skip_spf_pass: true });
  });
  after(async () => { await byDefault?.stop(); await skipping?.stop(); await dns?.stop(); });

  it('greylists a sender whose SPF the client passes when skip_spf_pass is left at its default', async () => {
    const r = await deliver(byDefault.port, { ip: '203.0.113.50', from: 'big@spf-ok.test', to: 'default@example.com' });
    assert.equal(r.rcpts[0].code, 451, `${r.rcpts[0].code} ${r.rcpts[0].text}`);
    assert.match(r.rcpts[0].text, /^4\.7\.1 Greylisted/);
  });

  it('with skip_spf_pass on, skips a pass from the domain\'s own network, with GREYLIST_SKIPPED scored 0', async () => {
    const r = await deliver(skipping.port, { ip: '203.0.113.51', from: 'big@spf-ok.test', to: 'own@example.com' });
    assert.equal(r.rcpts[0].code, 250, `${r.rcpts[0].code} ${r.rcpts[0].text}`);
    const symbols = symbolsOf(skipping.logs, 'own@example.com');
    assert.ok(symbols.includes('GREYLIST_SKIPPED(0)') && symbols.includes('SPF_PASS(-1)'), String(symbols));
  });

  it('with skip_spf_pass on, still greylists +all, an include of +all and a record covering the whole internet (the spf plugin marks each pass broad)', async () => {
    for (const domain of ['plusall.test', 'included.test', 'wide.test']) {
      const to = `${domain.split('.')[0]}@example.com`;
      const r = await deliver(skipping.port, { ip: '198.51.100.60', from: `spam@${domain}`, to });
      assert.equal(r.rcpts[0].code, 451, `${domain}: ${r.rcpts[0].code} ${r.rcpts[0].text}`);
      const result = skipping.logs.filter((l) => l.msg === 'spf result' && l.domain === domain).at(-1);
      assert.equal(result?.result, 'pass', domain);
      assert.equal(result?.broad, true, domain);
      assert.ok(!skipping.logs.some((l) => l.msg === 'greylist skipped' && String(l.to) === to), domain);
    }
  });
});
