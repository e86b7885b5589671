// skip_client_names over real SMTP and a real DNS server: a big provider's pool, retrying from one network after
// another, is recognised by its forward-confirmed name; a PTR that does not lead back is not enough; a name another
// plugin verified is taken without a lookup; and with no names listed, no lookup is made.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { deliver } from './session.ts';

const STUB = path.resolve(import.meta.dirname, 'fixtures', 'verified-name-stub.ts');

describe('greylist skip_client_names', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let named: TestGateway;
  let plain: TestGateway;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        '209.in-addr.arpa': { '41.220.85': { PTR: 'mail-sor-f41.google.com' }, '5.128.85': { PTR: 'mail-wr1-f5.google.com' } },
        '74.in-addr.arpa': { '9.82.125': { PTR: 'mail-wm1-f9.google.com' } },
        '198.in-addr.arpa': { '9.100.51': { PTR: 'mail-forged.google.com' } },
        'google.com': {
          'mail-sor-f41': { A: '209.85.220.41' }, 'mail-wr1-f5': { A: '209.85.128.5' }, 'mail-wm1-f9': { A: '74.125.82.9' },
          // Whoever controls 198.51.100.9's PTR can write this name, but the name does not lead back to that address.
          'mail-forged': { A: '192.0.2.1' },
        },
      },
    });
    const base = { dns: { servers: [dns.address], timeout: 500, tries: 1 } };
    named = await startGateway({ config: { ...base, plugins: [
      { name: 'verified-name-stub', module: STUB, names: { '203.0.113.77': 'mx1.bigmail.test' } },
      { name: 'greylist', delay: '1h', skip_client_names: ['.google.com', '.bigmail.test'] },
    ] } });
    plain = await startGateway({ config: { ...base, plugins: [{ name: 'greylist', delay: '1h' }] } });
  });
  after(async () => { await named?.stop(); await plain?.stop(); await dns?.stop(); });

  it('lets a pool\'s retries from three networks through by their confirmed names, at the first attempt', async () => {
    for (const ip of ['209.85.220.41', '209.85.128.5', '74.125.82.9']) {
      const r = await deliver(named.port, { ip, from: 'someone@gmail.example', to: 'pool@example.com' });
      assert.equal(r.rcpts[0].code, 250, `${ip}: ${r.rcpts[0].code} ${r.rcpts[0].text}`);
      assert.equal(r.data?.code, 250);
    }
    const reasons = named.logs.filter((l) => l.msg === 'greylist skipped' && String(l.to) === 'pool@example.com').map((l) => l.reason);
    assert.deepEqual(reasons, ['client name mail-sor-f41.google.com', 'client name mail-wr1-f5.google.com', 'client name mail-wm1-f9.google.com']);
    assert.ok(!named.logs.some((l) => l.msg === 'greylisted' && String(l.to) === 'pool@example.com'));
  });

  it('greylists a client whose PTR names a listed domain but does not resolve back to it', async () => {
    const r = await deliver(named.port, { ip: '198.51.100.9', from: 'x@forged.example', to: 'forged@example.com' });
    assert.equal(r.rcpts[0].code, 451);
  });

  it('takes the name another plugin verified, without a lookup of its own', async () => {
    await dns.resetQueries();
    const r = await deliver(named.port, { ip: '203.0.113.77', from: 'x@bigmail.test', to: 'verified@example.com' });
    assert.equal(r.rcpts[0].code, 250);
    assert.equal(named.logs.filter((l) => l.msg === 'greylist skipped' && String(l.to) === 'verified@example.com').at(-1)?.reason, 'client name mx1.bigmail.test');
    assert.deepEqual((await dns.queries()).filter((q) => q.type === 'PTR'), []);
  });

  it('makes no DNS lookup when no names are listed', async () => {
    await dns.resetQueries();
    const r = await deliver(plain.port, { ip: '209.85.220.41', from: 'someone@gmail.example', to: 'plain@example.com' });
    assert.equal(r.rcpts[0].code, 451);
    assert.deepEqual(await dns.queries(), []);
  });
});
