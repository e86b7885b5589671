// The Redis password of a Haraka folder (config/redis.ini) never reaches the log: haraka-plugin-redis logs through the
// `server` object, whose fields (the plugins' configs, the Redis client) the shim used to copy into the line.
// A `moat start` process of its own: Haraka's `server` is one per process, and in a shared test process its client
// and its log would be those of the first gateway that made them.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { FIXTURE, message } from './setup.ts';

const PASSWORD = 'S3cretPW99';

describe('haraka shim: the Redis password stays out of the log', function () {
  this.timeout(30_000);
  let redis: RedisHandle;
  let dns: DnsTestServer;
  let gw: SpawnedGateway;
  let release: () => void;

  before(async () => {
    redis = await startRedis();
    const admin = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true });
    await admin.connect();
    await admin.config('SET', 'requirepass', PASSWORD);
    admin.disconnect();
    dns = await startDnsServer({ zones: {} });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-log-secrets-'));
    release = holdUntilExit({ dir });
    cpSync(path.join(FIXTURE, 'config'), path.join(dir, 'config'), { recursive: true });
    writeFileSync(path.join(dir, 'config', 'plugins'), 'redis\nkarma\n');
    writeFileSync(path.join(dir, 'config', 'redis.ini'), `[server]\nhost=127.0.0.1\nport=${redis.port}\npassword=${PASSWORD}\n\n[pubsub]\nhost=127.0.0.1\nport=${redis.port}\npassword=${PASSWORD}\n`);
    gw = await spawnGateway({
      config: {
        domains: ['example.test'],
        log: { level: 'debug', format: 'json' },
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir, dns_servers: [dns.address], timeout: '20s', log_level: 'DEBUG' }],
      },
    });
  });
  after(async () => {
    await gw?.kill();
    await Promise.all([dns?.stop(), redis?.stop()]);
    release?.();
  });

  it('logs karma taking the shared client as a short line, and no line holds the password', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'mail.example.org' });
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    assert.equal((await d.data(message())).code, 250);
    await d.quit();
    const lines = () => gw.output.join('').split('\n').filter((l) => l.startsWith('{'));
    await waitFor('the delivered line', () => lines().find((l) => l.includes('"delivered"')));
    const records = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    const using = records.find((l) => l.msg === 'using server.notes.redis');
    assert.ok(using, 'karma logged that it uses the shared Redis client (so the password was in reach)');
    assert.equal(using.haraka_plugin, 'karma');
    assert.ok(JSON.stringify(using).length < 1000, `a short line, not the server object: ${JSON.stringify(using).length} characters`);
    assert.ok(records.some((l) => l.msg === 'delivered'), 'the message was delivered (its lines are all in)');
    const leaks = lines().filter((l) => l.includes(PASSWORD));
    assert.deepEqual(leaks, []);
    assert.ok(!gw.output.join('').includes(PASSWORD), 'nor anywhere in the output');
  });
});
