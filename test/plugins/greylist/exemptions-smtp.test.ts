// Every greylist exemption over real SMTP: IPs, recipient domains, relay networks, AUTH, access list, SPF pass, DNS allowlist.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import type { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { deliver, symbolsOf } from './session.ts';

const STUB = path.resolve(import.meta.dirname, 'fixtures', 'allowlist-stub.ts');
const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

describe('greylist exemptions over SMTP', function () {
  this.timeout(20_000);
  let gw: TestGateway;
  let dns: DnsTestServer;
  before(async () => {
    dns = await startDnsServer({
      zones: {
        'spf-ok.test': { '@': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'], MX: [{ priority: 10, exchange: 'mx.spf-ok.test' }] }, mx: { A: ['203.0.113.1'] } },
        'no-spf.test': { '@': { MX: [{ priority: 10, exchange: 'mx.no-spf.test' }] }, mx: { A: ['203.0.113.2'] } },
        'wl.test': { '77.113.0.203': { A: ['127.0.0.2'] } },
      },
      ttl: 5,
    });
    gw = await startGateway({
      config: {
        domains: ['example.com', 'nogrey.example', 'sub.nogrey.example'],
        relay: { networks: ['192.0.2.0/24'] },
        access: { allow_ips: ['198.18.0.1/32'] },
        dns: { servers: [dns.address], timeout: 500, tries: 1 },
        plugins: [
          { name: 'spf', check_helo: false, header: false },
          { name: 'allowlist-stub', module: STUB, ips: ['203.0.113.99'] },
          { name: 'rbl', allow_zones: [{ zone: 'wl.test' }] },
          {
            name: 'greylist', delay: '1h', skip_spf_pass: true,
            skip_ips: ['198.51.100.0/24', '2001:db8:77::/48'],
            skip_recipient_domains: ['nogrey.example'],
            skip_sender_domains: ['.trusted-lists.test'],
          },
        ],
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 's3cret-pw');
  });
  after(async () => { await gw?.stop(); await dns?.stop(); });

  /** Delivers and asserts the recipient passed with GREYLIST_SKIPPED for `reason`. */
  async function passesBecause(a: Parameters<typeof deliver>[1], reason: RegExp): Promise<string[]> {
    const r = await deliver(gw.port, a);
    assert.equal(r.rcpts[0].code, 250, `${r.rcpts[0].code} ${r.rcpts[0].text}`);
    assert.equal(r.data?.code, 250);
    const symbols = symbolsOf(gw.logs, [a.to].flat()[0]);
    assert.ok(symbols.includes('GREYLIST_SKIPPED(0)'), String(symbols));
    const skipped = gw.logs.filter((l) => l.msg === 'greylist skipped' && String(l.to) === [a.to].flat()[0]).at(-1);
    assert.match(String(skipped?.reason), reason);
    return symbols;
  }

  it('a client that is not exempt is greylisted (the control case)', async () => {
    const r = await deliver(gw.port, { ip: '203.0.114.50', from: 'x@no-spf.test', to: 'control@example.com' });
    assert.equal(r.rcpts[0].code, 451);
  });

  it('leaves a relay attempt to the relay rule: 554 at once, no greylist entry written', async () => {
    // It had been answered 451 Greylisted first, and its triplet stored, for mail that could never be accepted.
    const r = await deliver(gw.port, { ip: '203.0.113.60', from: 'x@no-spf.test', to: 'someone@elsewhere.example' });
    assert.equal(r.rcpts[0].code, 554, `${r.rcpts[0].code} ${r.rcpts[0].text}`);
    assert.ok(!gw.logs.some((l) => l.msg === 'greylisted' && String(l.to) === 'someone@elsewhere.example'));
  });

  it('skips listed IPs and CIDRs, IPv4 and IPv6', async () => {
    await passesBecause({ ip: '198.51.100.33', from: 'x@no-spf.test', to: 'ip4@example.com' }, /skip_ips/);
    await passesBecause({ ip: '2001:db8:77:1::5', from: 'x@no-spf.test', to: 'ip6@example.com' }, /skip_ips/);
  });

  it('skips recipient domains with greylisting off, exactly (not their subdomains)', async () => {
    await passesBecause({ ip: '203.0.114.51', from: 'x@no-spf.test', to: 'user@nogrey.example' }, /recipient domain/);
    assert.equal((await deliver(gw.port, { ip: '203.0.114.51', from: 'x@no-spf.test', to: 'user@sub.nogrey.example' })).rcpts[0].code, 451);
  });

  it('skips listed sender domains', async () => {
    await passesBecause({ ip: '203.0.114.52', from: 'news@mail.trusted-lists.test', to: 'lists@example.com' }, /sender domain/);
  });

  it('skips clients in relay.networks', async () => {
    await passesBecause({ ip: '192.0.2.9', from: 'x@no-spf.test', to: 'relay@example.com' }, /relay network/);
  });

  it('skips clients in access.allow_ips', async () => {
    await passesBecause({ ip: '198.18.0.1', from: 'x@no-spf.test', to: 'allow@example.com' }, /access allowlist/);
  });

  it('skips authenticated users (STARTTLS + AUTH), and greylists the same client without AUTH', async () => {
    const auth = async (c: SmtpDialog) => {
      assert.equal((await c.starttls()).code, 220);
      await c.cmd('EHLO client.test');
      assert.equal((await c.cmd(`AUTH PLAIN ${plain('alice', 's3cret-pw')}`)).code, 235);
    };
    await passesBecause({ ip: '127.0.0.1', noXclient: true, before: auth, from: 'alice@example.com', to: 'authed@example.com' }, /authenticated/);
    assert.equal((await deliver(gw.port, { ip: '127.0.0.1', noXclient: true, from: 'alice@example.com', to: 'authed@example.com' })).rcpts[0].code, 451);
  });

  it('skips a sender whose domain publishes SPF when the client passes it, and only then', async () => {
    const symbols = await passesBecause({ ip: '203.0.113.50', from: 'big@spf-ok.test', to: 'spf@example.com' }, /SPF pass \(SPF_PASS\)/);
    assert.ok(symbols.some((s) => s.startsWith('SPF_PASS(')), String(symbols));
    // Same domain from a client its SPF does not authorise, and a domain without SPF from an authorised network.
    assert.equal((await deliver(gw.port, { ip: '203.0.114.60', from: 'big@spf-ok.test', to: 'spf@example.com' })).rcpts[0].code, 451);
    assert.equal((await deliver(gw.port, { ip: '203.0.113.50', from: 'big@no-spf.test', to: 'spf@example.com' })).rcpts[0].code, 451);
  });

  it('skips a client the rbl plugin found on a DNS allowlist zone', async () => {
    await passesBecause({ ip: '203.0.113.77', from: 'x@no-spf.test', to: 'realwl@example.com' }, /DNS allowlist \(RBL_ALLOW_WL\)/);
  });

  it('skips a client on a DNS allowlist recorded before RCPT (RBL_ALLOW_*)', async () => {
    const symbols = await passesBecause({ ip: '203.0.113.99', from: 'x@no-spf.test', to: 'dnswl@example.com' }, /DNS allowlist \(RBL_ALLOW_STUB\)/);
    assert.ok(symbols.includes('RBL_ALLOW_STUB(0)'));
  });
});
