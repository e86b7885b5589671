// From a two-gateway walk-through: a Redis password with a blank (`requirepass 'Secret 99'`, configured as
// `redis://:Secret 99@host`) worked, and was then written in clear in the start line, the outage line, greylist's
// per-message error and `moat doctor`'s output. A real gateway on a real Redis with that password: nothing it writes,
// nor what doctor prints, holds the password in any form.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startRedis, type RedisHandle } from '../../helpers/redis.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { capture } from '../../helpers/console-capture.ts';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const PASSWORD = 'Secret 99';
/** The password, its encoded form, or either half of it next to the `@`. */
const TRACE = /Secret|%2099|99@/;

/** One message from a client the gateway does not trust (XCLIENT), to a local recipient: greylist asks the store. */
async function attempt(port: number, n: number): Promise<number> {
  const c = await SmtpDialog.connect(port);
  try {
    await c.hello({ xclient: { addr: '192.0.2.77', helo: 'sender.test' } });
    await c.cmd('MAIL FROM:<someone@sender.test>');
    const rcpt = await c.cmd(`RCPT TO:<user${n}@example.com>`);
    if (rcpt.code === 250) await c.data(testMessage({ subject: `blank ${n}`, from: 'someone@sender.test', to: `user${n}@example.com` }));
    return rcpt.code;
  } finally {
    await c.quit();
  }
}

describe('a Redis password with a blank, end to end', function () {
  this.timeout(60_000);
  let redis: RedisHandle;
  let gw: SpawnedGateway | undefined;
  let dir: string;

  before(async () => {
    redis = await startRedis();
    const admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
    await admin.config('SET', 'requirepass', PASSWORD);
    admin.disconnect();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-blank-pw-'));
  });
  after(async () => {
    await gw?.kill();
    await redis.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('check-config and doctor accept it and never print it; the gateway logs it nowhere, outage and greylist errors included', async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
    const state = { backend: 'redis', redis: { url } };

    // No domain: doctor's DNS check then asks nobody.
    const file = path.join(dir, 'mailmoat.yaml');
    fs.writeFileSync(file, `data_dir: ./data\nstate:\n  backend: redis\n  redis:\n    url: "${url}"\n`);
    const checked = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file], { encoding: 'utf8', cwd: dir });
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    assert.doesNotMatch(checked.stdout + checked.stderr, TRACE);
    const doctor = await capture(() => doctorCli(['--config', file]));
    assert.match(doctor.out, new RegExp(`^ok {3}state store: redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} answers in \\d+ ms`, 'm'), doctor.out);
    assert.doesNotMatch(doctor.out, TRACE);

    const started = await spawnGateway({ config: { state, plugins: [{ name: 'greylist', on_store_error: 'pass' }] } });
    gw = started;
    const output = () => started.output.join('');
    assert.match(output(), new RegExp(`"msg":"state store: redis",[^\\n]*"url":"redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}"`));
    assert.equal(await attempt(started.port, 1), 451, 'greylisted: the store answered with the password');

    await redis.stop();
    await waitUntil('the outage line', () => output().includes('redis state store unreachable'), 20_000);
    assert.equal(await attempt(started.port, 2), 250, 'on_store_error: pass');
    await waitUntil('greylist\'s error line', () => output().includes('greylist state store failed'));
    await started.kill();
    gw = undefined;

    const lines = output().split('\n').filter((l) => l.includes('redis://'));
    assert.ok(lines.length >= 3, `the start, outage and greylist lines name the URL:\n${lines.join('\n')}`);
    for (const l of lines) assert.match(l, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
    assert.doesNotMatch(output(), TRACE);
  });
});
