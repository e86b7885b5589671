// `moat doctor` against real services on loopback: data_dir, a Redis state store, the DNS resolver, smarthosts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { capture } from '../../helpers/console-capture.ts';

describe('moat doctor: data_dir, state store, DNS and smarthosts', function () {
  this.timeout(30_000);
  let dir: string;
  let dns: DnsTestServer;
  let redis: RedisHandle;
  let smarthost: Smarthost;
  let deadPort: number;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-doctor-'));
    [dns, redis, smarthost, deadPort] = await Promise.all([
      startDnsServer({ zones: { 'doctor.test': { '@': { MX: ['20 backup.doctor.test', '10 mx.doctor.test'] } } }, behaviours: { 'silent.test': { drop: true } } }),
      startRedis(),
      startSmarthost(),
      freePort(),
    ]);
  });
  after(async () => {
    await Promise.all([dns?.stop(), redis?.stop(), smarthost?.stop()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function config(name: string, yaml: string): string {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, `data_dir: ${name}-data\ndns:\n  servers: ['${dns.address}']\n  timeout: 300ms\n  tries: 1\n${yaml}`);
    return file;
  }

  it('says ok for each reachable service, with what it found', async () => {
    fs.mkdirSync(path.join(dir, 'up-data'));
    const file = config('up', [
      'domains: [doctor.test]',
      `smarthost: smtp://127.0.0.1:${smarthost.port}`,
      `state:\n  backend: redis\n  redis:\n    url: redis://:hidden-pw@127.0.0.1:${redis.port}`,
      `routes:\n  partner.test: smtp://127.0.0.1:${smarthost.port}\n  far.test: mx`,
      '',
    ].join('\n'));
    const { code, out } = await capture(() => doctorCli(['--config', file]));
    assert.equal(code, 0, out);
    assert.match(out, /^ok {3}data_dir: .*up-data: [\d,]+ MB free \(\d+\.\d%\)$/m);
    assert.match(out, new RegExp(`^ok {3}state store: redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/? answers in \\d+ ms$`, 'm'));
    assert.match(out, /^ok {3}dns: .* answer in \d+ ms: MX of doctor\.test: mx\.doctor\.test \(10\), backup\.doctor\.test \(20\)$/m);
    assert.match(out, new RegExp(`^ok {3}smarthost: smarthost smtp://127\\.0\\.0\\.1:${smarthost.port} ready in \\d+ ms \\(no TLS\\)$`, 'm'));
    assert.match(out, /^ok {3}smarthost: route partner\.test: smtp:\/\/127\.0\.0\.1:\d+ ready/m);
    assert.match(out, /^ok {3}smarthost: route far\.test: to the domain's MX hosts$/m);
    assert.ok(!out.includes('hidden-pw'), 'no password in the output');
  });

  it('fails, with what the gateway does meanwhile, for each service that does not answer', async () => {
    const file = config('down', [
      'domains: [silent.test]',
      `smarthost: smtp://127.0.0.1:${deadPort}`,
      `state:\n  backend: redis\n  redis:\n    url: redis://127.0.0.1:${deadPort}`,
      // Something that asks the resolver, so that the DNS check runs.
      'routes:\n  far.test: mx',
      '',
    ].join('\n'));
    const { code, out } = await capture(() => doctorCli(['--config', file]));
    assert.equal(code, 1, out);
    assert.match(out, /^ok {3}data_dir: .*down-data does not exist yet; the gateway creates it$/m);
    assert.match(out, /^FAIL state store: cannot reach the Redis state store .*\(the gateway starts anyway; greylisting follows on_store_error/m);
    assert.match(out, /^FAIL dns: .*MX of silent\.test: .*TIMEOUT.*\(meanwhile deliveries to MX hosts wait \(route far\.test via mx\)\)$/m);
    assert.match(out, new RegExp(`^FAIL smarthost: smarthost smtp://127\\.0\\.0\\.1:${deadPort}: .*ECONNREFUSED.*\\(mail for it waits in the queue and is retried\\)$`, 'm'));
  });

  it('does not check DNS for a config that never asks the resolver, and checks it once a plugin or an mx route does', async () => {
    const quiet = config('no-dns', ['domains: [silent.test]', `smarthost: smtp://127.0.0.1:${smarthost.port}`, ''].join('\n'));
    const { code, out } = await capture(() => doctorCli(['--config', quiet]));
    assert.equal(code, 0, out);
    assert.match(out, /^ok {3}dns: not checked: nothing in the config uses .* \(no plugin that looks names up, no route via mx\)$/m);
    assert.doesNotMatch(out, /TIMEOUT/);
    const used = [
      config('plugin-dns', ['domains: [silent.test]', `smarthost: smtp://127.0.0.1:${smarthost.port}`, 'plugins:\n  - name: spf', ''].join('\n')),
      config('route-dns', ['domains: [silent.test]', `smarthost: smtp://127.0.0.1:${smarthost.port}`, 'routes:\n  far.test: mx', ''].join('\n')),
    ];
    for (const file of used) {
      const r = await capture(() => doctorCli(['--config', file]));
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /^ok {3}config: /m);
      assert.match(r.out, /^FAIL dns: .*MX of silent\.test: .*TIMEOUT/m);
    }
  });

  it('fails a data_dir that is a file', async () => {
    fs.writeFileSync(path.join(dir, 'file-data'), 'not a folder');
    const { code, out } = await capture(() => doctorCli(['--config', config('file', '')]));
    assert.equal(code, 1, out);
    assert.match(out, /^FAIL data_dir: .*file-data is not a folder: the gateway cannot start$/m);
  });
});
