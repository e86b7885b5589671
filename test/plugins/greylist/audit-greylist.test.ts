// Audit of greylisting as Postgrey admins expect it, over real SMTP: retries in another form still match, exempt and
// greylisted recipients of one transaction are judged apart, bad timings stop the start, admin allows keep their expiry,
// and `moat greylist` refuses networks it cannot honour.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { deliver, sleep } from './session.ts';
import { moat } from './moat.ts';
import { passClientKey } from '../../../plugins/greylist/greylister.ts';

const DELAY = 400;
const codes = (r: { rcpts: { code: number }[] }) => r.rcpts.map((x) => x.code);

describe('greylist audit: retries in another form, mixed transactions', function () {
  this.timeout(20_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({
      config: {
        domains: ['example.com', 'exempt.example'],
        plugins: [{ name: 'greylist', delay: `${DELAY}ms`, retry_window: '30s', remember: '1h', skip_recipient_domains: ['exempt.example'] }],
      },
    });
  });
  after(() => gw.stop());

  it('matches a retry whose sender changed case and SRS hash, from another address of the same IPv6 /64', async () => {
    const first = { ip: '2001:db8:1:2::5', from: 'SRS0=abcd=T1=Orig.example=User@fwd.test', to: 'srs6@example.com' };
    assert.deepEqual(codes(await deliver(gw.port, first)), [451]);
    await sleep(DELAY + 100);
    assert.deepEqual(codes(await deliver(gw.port, { ...first, ip: '2001:db8:1:2:ffff::9', from: 'srs0=zzzz=T2=orig.EXAMPLE=user@FWD.test', to: 'SRS6@example.com' })), [250]);
    assert.deepEqual(codes(await deliver(gw.port, { ...first, ip: '2001:db8:1:3::5' })), [451], 'another /64 is another client');
  });

  it('treats each message of a mailing list as the same sender although its VERP counter changes', async () => {
    const first = { ip: '203.0.113.30', from: 'list-bounces-1001-srs6=example.com@lists.test', to: 'reader@example.com' };
    assert.deepEqual(codes(await deliver(gw.port, first)), [451]);
    await sleep(DELAY + 100);
    assert.deepEqual(codes(await deliver(gw.port, first)), [250]);
    assert.deepEqual(codes(await deliver(gw.port, { ...first, from: 'list-bounces-1002-srs6=example.com@lists.test' })), [250]);
  });

  it('judges each recipient of a bounce apart: the exempt one gets the message, the others are deferred until their retry', async () => {
    const bounce = { ip: '203.0.113.31', from: '', to: ['n1@example.com', 'x@exempt.example', 'n2@example.com'] };
    const first = await deliver(gw.port, bounce);
    assert.deepEqual(codes(first), [451, 250, 451]);
    assert.equal(first.data?.code, 250);
    const summary = gw.logs.filter((l) => l.msg === 'message').at(-1);
    assert.deepEqual(summary?.to, ['x@exempt.example']);
    await sleep(DELAY + 100);
    assert.deepEqual(codes(await deliver(gw.port, bounce)), [250, 250, 250]);
  });

  it('keeps an admin allow to the expiry it was given, however often the client sends', async () => {
    const store = gw.gateway.runtime.services.store;
    const key = passClientKey('203.0.113.0/24');
    const tenMinutes = 600_000;
    // Last used two hours ago: a remembered pass would be pushed back to the plugin's full `remember` (1h) now.
    const past = Date.now() - 7_200_000;
    await store.set(key, JSON.stringify({ passed: past, last: past, client: '203.0.113.0/24', by: 'admin' }), tenMinutes);
    assert.deepEqual(codes(await deliver(gw.port, { ip: '203.0.113.99', from: 'any@sender.test', to: 'allowed@example.com' })), [250]);
    assert.ok((await store.ttl(key)) <= tenMinutes, 'the allow given for 10 minutes was extended');
  });
});

describe('greylist audit: timings that could never let mail through', function () {
  this.timeout(20_000);
  // The loader may lead with the entry's key path (`plugins[0].remember: plugin greylist cannot start: …`) or follow
  // the plugin's own `remember: …`; either way the key and the reason are said together.
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ delay: '1h', retry_window: '30m' }, /retry_window: (?:plugin greylist cannot start: )?must be longer than delay/],
    [{ delay: '0', retry_window: '0' }, /retry_window: (?:plugin greylist cannot start: )?must be longer than delay/],
    [{ remember: '0' }, /remember: (?:plugin greylist cannot start: )?must be longer than 0/],
    [{ remember: '99999999d' }, /remember: (?:plugin greylist cannot start: )?at most 36500d/],
  ];
  for (const [options, error] of cases) {
    it(`refuses to start with ${JSON.stringify(options)}`, async () => {
      await assert.rejects(startGateway({ config: { plugins: [{ name: 'greylist', ...options }] } }), error);
    });
  }
});

describe('greylist audit: moat greylist with networks', () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-glaudit-'));
    config = path.join(dir, 'mailmoat.yaml');
    writeFileSync(config, 'data_dir: ./data\nplugins:\n  - name: greylist\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const bad of ['192.0.2.1/abc', '192.0.2.1/33', '192.0.2.1/', '2001:db8::/129', '192.0.2.1/24/8']) {
    it(`refuses ${bad} with one line and exit 64`, async () => {
      const r = await moat('allow', bad, '--config', config);
      assert.equal(r.code, 64);
      assert.equal(r.out, '');
      assert.match(r.err, /^not an IP address or CIDR: .*$/);
    });
  }

  it('refuses to allow a network wider than the one the gateway looks up, which would never match', async () => {
    const r = await moat('allow', '192.0.2.0/16', '--config', config);
    assert.equal(r.code, 64);
    assert.match(r.err, /remembered by \/24 networks/);
    assert.equal((await moat('list', '--config', config)).out, 'no greylist entries');
  });

  it('purge --client with a wide CIDR removes the networks inside it only', async () => {
    for (const ip of ['192.0.2.9', '192.0.7.9', '198.51.100.9']) assert.equal((await moat('allow', ip, '--config', config)).code, 0);
    const r = await moat('purge', '--client', '192.0.0.0/16', '--config', config);
    assert.equal(r.out, 'removed 2 entries of 192.0.0.0/16');
    const left = JSON.parse((await moat('list', '--json', '--config', config)).out);
    assert.deepEqual(left.map((e: { client: string }) => e.client), ['198.51.100.0/24']);
  });
});
