// Credentials towards a smarthost or route that can never be encrypted (starttls: off on smtp://) are refused by the
// config check, so start, reload and check-config name them, instead of every message being deferred until it expires.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { createGateway } from '../../../core/gateway.ts';
import { ConfigError, loadConfig } from '../../../core/config/load.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const PASSWORD = 'hunter2-not-for-logs';

describe('config: smarthost and route credentials need TLS', function () {
  this.timeout(60_000);
  let base: string;
  let sink: Smarthost;
  let seq = 0;

  before(async () => {
    base = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-cred-tls-'));
    sink = await startSmarthost();
  });
  after(async () => {
    await sink?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  /** A config file with its own data_dir; `extra` holds smarthost and routes. */
  function configFile(extra: Record<string, unknown>): string {
    const at = path.join(base, `gw-${++seq}`);
    mkdirSync(at);
    const file = path.join(at, 'mailmoat.yaml');
    rewrite(file, extra);
    return file;
  }

  function rewrite(file: string, extra: Record<string, unknown>): void {
    const dataDir = path.join(path.dirname(file), 'data');
    writeFileSync(file, stringify({ server: { listen: ['127.0.0.1:0'] }, domains: ['example.com'], data_dir: dataDir, log: { level: 'info', format: 'json' }, ...extra }));
  }

  async function moat(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return promisify(execFile)(process.execPath, [MOAT, ...args], { timeout: 30_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));
  }

  const WHY = /is off, but (the URL holds credentials|user and pass are set|user is set): the relay sends credentials over TLS only, .*set starttls: required \(or opportunistic\), or use smtps:\/\//;

  it('refuses a smarthost URL with credentials and starttls: off, in check-config and at start, without the password', async () => {
    const file = configFile({ smarthost: { url: `smtp://relay:${PASSWORD}@127.0.0.1:${sink.port}`, starttls: 'off' } });
    const check = await moat('check-config', '--config', file);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /1 error\(s\)\n {2}smarthost\.starttls: is off, but the URL holds credentials: /);
    assert.ok(!check.stderr.includes(PASSWORD), check.stderr);

    const start = await moat('start', '--config', file);
    assert.notEqual(start.code, 0);
    assert.match(start.stderr + start.stdout, /smarthost\.starttls: is off, but the URL holds credentials/);
    assert.ok(!(start.stderr + start.stdout).includes(PASSWORD));
  });

  it('refuses a route with credentials (in its URL, or user and pass beside mx) and starttls: off', async () => {
    const file = configFile({
      smarthost: `smtp://127.0.0.1:${sink.port}`,
      routes: {
        'example.org': { via: `smtp://u:${PASSWORD}@10.0.0.5:25`, starttls: 'off' },
        'example.net': { via: 'mx', starttls: 'off', user: 'bob', pass: PASSWORD },
        'example.edu': { via: 'mx', starttls: 'off', user: 'bob' },
      },
    });
    await assert.rejects(loadConfig({ file }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path), ['routes.example.org.starttls', 'routes.example.net.starttls', 'routes.example.edu.starttls']);
      for (const i of e.issues) assert.match(i.message, WHY);
      assert.match(e.issues[2].message, /but user is set/);
      assert.ok(!e.message.includes(PASSWORD), e.message);
      return true;
    });
  });

  it('passes credentials that can go over TLS, and starttls: off without credentials', async () => {
    const file = configFile({
      smarthost: { url: `smtp://relay:${PASSWORD}@127.0.0.1:${sink.port}`, starttls: 'opportunistic' },
      routes: {
        'example.org': { via: `smtps://u:${PASSWORD}@10.0.0.5:465`, starttls: 'off' },
        'example.net': { via: 'smtp://10.0.0.6:25', starttls: 'off' },
        'example.edu': { via: 'mx', starttls: 'required', user: 'bob', pass: PASSWORD },
        'example.info': `smtp://u:${PASSWORD}@10.0.0.7:25`,
      },
    });
    const { config } = await loadConfig({ file });
    assert.equal(Object.keys(config.routes).length, 4);
    assert.deepEqual(await moat('check-config', '--config', file), { code: 0, stdout: `${file}: OK\n`, stderr: '' });
  });

  it('a reload to such a smarthost is refused and the running config kept', async () => {
    const file = configFile({ smarthost: `smtp://127.0.0.1:${sink.port}` });
    const logs: LogFields[] = [];
    const gateway = await createGateway({ config: (await loadConfig({ file })).config, configFile: file, configDir: path.dirname(file), logSink: { write() {} }, onLog: (r) => { logs.push(r); } });
    try {
      rewrite(file, { smarthost: { url: `smtp://relay:${PASSWORD}@127.0.0.1:${sink.port}`, starttls: 'off' } });
      assert.equal(await gateway.reload(), false);
      const refused = logs.find((l) => /reload refused/.test(String(l.msg)));
      assert.ok(refused, JSON.stringify(logs.map((l) => l.msg)));
      assert.match(JSON.stringify(refused), /smarthost\.starttls: is off, but the URL holds credentials/);
      assert.ok(!JSON.stringify(logs).includes(PASSWORD));
      // the running relay still delivers, without credentials, as before the reload
      const before = sink.messages.length;
      const d = await SmtpDialog.connect(gateway.port());
      try {
        await d.hello({ helo: 'client.example.org' });
        assert.equal((await d.cmd('MAIL FROM:<a@example.org>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<postmaster@example.com>')).code, 250);
        assert.equal((await d.data(testMessage({ to: 'postmaster@example.com' }))).code, 250);
      } finally {
        await d.quit();
      }
      assert.equal((await sink.waitFor(before + 1)).length, before + 1);
    } finally {
      await gateway.stop();
    }
  });
});
