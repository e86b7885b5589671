// A plain Haraka plugin's own stray errors (a timer that throws, a promise nobody awaits) in a real `moat start`:
// they come from the plugin's vm realm, so they are no `instanceof Error` here; the log still names the plugin with
// the stack, and the gateway goes on serving mail, as the README promises for a plugin's own throw.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway } from '../../helpers/gateway.ts';
import { logLines } from '../../helpers/spawned-log.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { message } from './setup.ts';

const CARELESS = `
exports.hook_data_post = function (next, connection) {
  Promise.reject(new Error('haraka floating rejection x'));
  setTimeout(() => { throw new Error('haraka timer throw y') }, 10);
  next();
}
`;

async function send(port: number): Promise<number> {
  const d = await SmtpDialog.connect(port);
  await d.hello({ helo: 'mail.example.org' });
  await d.cmd('MAIL FROM:<alice@example.org>');
  await d.cmd('RCPT TO:<bob@example.com>');
  const r = await d.data(message({ to: 'bob@example.com' }));
  await d.quit();
  return r.code;
}

describe('haraka shim: a plain plugin\'s stray errors in a running gateway', function () {
  this.timeout(60_000);
  let dir: string;
  let dns: DnsTestServer;
  before(async () => {
    dns = await startDnsServer({ zones: {} });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haraka-stray-'));
    fs.mkdirSync(path.join(dir, 'haraka', 'config'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'haraka', 'plugins'));
    fs.writeFileSync(path.join(dir, 'haraka', 'config', 'plugins'), 'careless\n');
    fs.writeFileSync(path.join(dir, 'haraka', 'plugins', 'careless.js'), CARELESS);
  });
  after(async () => {
    await dns?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs both with the plugin and the stack, and the gateway goes on', async () => {
    const gw = await spawnGateway({
      config: {
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir: path.join(dir, 'haraka'), dns_servers: [dns.address] }],
      },
    });
    try {
      assert.equal(await send(gw.port), 250);
      const lines = await waitFor('both error lines', () => {
        const found = logLines(gw).filter((l) => l.kind === 'unhandledRejection' || l.kind === 'uncaughtException');
        return found.length >= 2 ? found : undefined;
      });
      const rejection = lines.find((l) => l.kind === 'unhandledRejection')!;
      const thrown = lines.find((l) => l.kind === 'uncaughtException')!;
      assert.equal(rejection.error, 'haraka floating rejection x');
      assert.equal(rejection.plugin, 'haraka');
      assert.match(String(rejection.stack), /careless\.js/);
      assert.equal(thrown.error, 'haraka timer throw y');
      assert.equal(thrown.plugin, 'haraka');
      assert.match(String(thrown.stack), /careless\.js/);
      assert.equal(thrown.consequence, 'the gateway goes on');
      // Still serving.
      assert.equal(await send(gw.port), 250);
      assert.equal(gw.child.exitCode, null, 'the gateway process is still running');
    } finally {
      await gw.kill();
    }
  });
});
