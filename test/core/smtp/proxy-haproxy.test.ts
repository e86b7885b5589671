// End to end through a real HAProxy in TCP mode with `send-proxy-v2` and `option smtpchk`, as the walkthrough ran
// it: mail from a client reaches the gateway as that client, with the proxy on its connect line, and HAProxy's own
// v2 health checks (LOCAL) pass (the server is up at layer 7) and are logged at debug only, each check's session
// with its connect and closed lines. HAProxy is installed by the test harness like every other package.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { freePort } from '../../helpers/ports.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** One command on HAProxy's admin socket; resolves with its whole answer. */
function adminCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = net.connect(socketPath, () => s.write(`${command}\n`));
    s.on('data', (d) => { out += d.toString(); });
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/** The check status HAProxy's `show stat` gives a backend server (`L7OK` once its health check passed). */
async function checkStatus(socketPath: string, backend: string, server: string): Promise<string | undefined> {
  const csv = await adminCommand(socketPath, 'show stat').catch(() => '');
  const [head, ...rows] = csv.split('\n');
  const columns = head.replace(/^# /, '').split(',');
  const row = rows.map((r) => r.split(',')).find((r) => r[0] === backend && r[1] === server);
  return row?.[columns.indexOf('check_status')];
}

describe('through a real HAProxy with send-proxy-v2 and smtpchk', function () {
  this.timeout(120_000);
  let gw: RelayingGateway;
  let haproxy: ChildProcess | undefined;
  let end: (() => void) | undefined;
  let frontPort: number;
  let adminSocket: string;
  const output: string[] = [];

  before(async () => {
    ensureCommands({ haproxy: 'haproxy' });
    gw = await startRelayingGateway({ config: { server: { trusted_proxies: ['127.0.0.1/32'], proxy_protocol: true } } });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-haproxy-'));
    frontPort = await freePort();
    adminSocket = path.join(dir, 'admin.sock');
    const config = path.join(dir, 'haproxy.cfg');
    writeFileSync(config, [
      'global',
      `  stats socket ${adminSocket} mode 600 level admin`,
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend smtp',
      `  bind 127.0.0.1:${frontPort}`,
      '  default_backend gateways',
      'backend gateways',
      '  option smtpchk EHLO haproxy.test',
      `  server gw1 127.0.0.1:${gw.port} send-proxy-v2 check inter 500ms`,
      '',
    ].join('\n'));
    haproxy = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    end = holdUntilExit({ child: haproxy, dir });
    haproxy.stdout!.on('data', (d) => output.push(String(d)));
    haproxy.stderr!.on('data', (d) => output.push(String(d)));
    await waitFor(() => `HAProxy listening (${output.join('')})`, () => new Promise<true | undefined>((resolve) => {
      const s = net.connect(frontPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(undefined));
    }));
  });

  after(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r));
      haproxy.kill('SIGTERM');
      await exited;
    }
    end?.();
    await gw?.stop();
  });

  it('passes HAProxy\'s v2 health checks, logged at debug as whole sessions', async () => {
    await waitFor(() => `L7OK (HAProxy said: ${output.join('')})`, async () => ((await checkStatus(adminSocket, 'gateways', 'gw1')) === 'L7OK' ? true : undefined), 20_000);
    const checks = gw.logs.filter((l) => l.msg === 'connect' && l.client === '127.0.0.1' && l.proxy === '127.0.0.1');
    assert.ok(checks.length >= 1, 'a check\'s session');
    assert.ok(checks.every((l) => l.level === 'debug'));
    const closed = await waitFor('a check\'s closing line', () => gw.logs.find((l) => l.msg === 'connection closed' && l.cid === checks[0].cid));
    assert.equal(closed.level, 'debug');
    assert.ok(!gw.logs.some((l) => /PROXY/.test(String(l.msg)) && l.level !== 'debug'), 'no refused or unfinished header');
  });

  it('delivers a client\'s mail as that client, the proxy on its connect line', async () => {
    const d = await SmtpDialog.connect(frontPort, '127.0.0.1', { localAddress: '127.0.0.5' });
    assert.equal((await d.read()).code, 220);
    assert.equal((await d.cmd('EHLO client.example')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.data(testMessage({ subject: 'via-haproxy' }))).code, 250);
    await d.quit();
    const connect = await waitFor('the client\'s connect line', () => gw.logs.find((l) => l.msg === 'connect' && l.client === '127.0.0.5'));
    assert.deepEqual([connect.proxy, connect.level], ['127.0.0.1', 'info']);
    assert.match(await gw.sink.waitForText('via-haproxy'), /\[127\.0\.0\.5\]/);
  });
});
