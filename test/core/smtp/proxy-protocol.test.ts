// The PROXY protocol on a real gateway, over real sockets from a trusted proxy's address (127.0.0.1): v1 and v2 told
// apart by their first bytes, the client a header names judged and logged as the client with the proxy beside it,
// LOCAL (a health check) as the proxy's own session logged at debug, hostile headers refused and logged once per
// cause, and a deadline from the accept that a trickle of bytes does not extend. And the config that could never
// work (proxy_protocol without trusted_proxies) refused before it runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { validateConfig, ConfigError } from '../../../core/config/load.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { proxyV2 } from './proxy-v2-builder.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const latin1 = (s: string) => Buffer.from(s, 'latin1');

/** Everything a connection that sends `header` first is told until the gateway closes it. */
function rawAnswer(port: number, header: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect({ port, host: '127.0.0.1' }, () => s.write(header));
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

/**
 * Writes `bytes` one at a time, `everyMs` apart, as a proxy that trickles its header would, until they are all
 * written or the gateway closes the connection; resolves with how many were written and what came back.
 */
function trickle(port: number, bytes: Buffer, everyMs: number): Promise<{ written: number; answer: string }> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answer = '';
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.setNoDelay(true);
      const timer = setInterval(() => {
        if (s.destroyed || written === bytes.length) { clearInterval(timer); return; }
        s.write(bytes.subarray(written, written + 1));
        written++;
      }, everyMs);
      s.on('close', () => { clearInterval(timer); resolve({ written, answer }); });
    });
    s.on('data', (d) => { answer += d.toString('latin1'); });
    s.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') reject(e); });
  });
}

describe('PROXY protocol v1 and v2 from a trusted proxy', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;

  before(async () => {
    gw = await startRelayingGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.1/32'], proxy_protocol: true, proxy_timeout: '1s' },
        access: { deny_ips: ['192.0.2.66/32'] },
      },
    });
  });
  after(() => gw?.stop());

  const refusedCount = () => gw.gateway.runtime.metrics.counters.get('connections_refused') ?? 0;
  const linesOf = (msg: string) => gw.logs.filter((l) => l.msg === msg);

  async function viaProxy(header: Buffer, localAddress?: string): Promise<{ d: SmtpDialog; code: number }> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress });
    d.write(header);
    return { d, code: (await d.read()).code };
  }

  it('v2 over INET: the client it names is judged, logged with the proxy, and written in Received', async () => {
    const denied = await viaProxy(proxyV2({ source: '192.0.2.66' }));
    assert.equal(denied.code, 554, 'access.deny_ips judges the client the header names');
    denied.d.hangUp();
    const { d, code } = await viaProxy(proxyV2({ source: '192.0.2.10', sourcePort: 41000 }));
    assert.equal(code, 220);
    assert.equal((await d.cmd('EHLO client.example')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.data(testMessage({ subject: 'through-v2' }))).code, 250);
    await d.quit();
    const connect = linesOf('connect').find((l) => l.client === '192.0.2.10');
    assert.deepEqual([connect?.proxy, connect?.port, connect?.level], ['127.0.0.1', 41000, 'info']);
    assert.match(await gw.sink.waitForText('through-v2'), /^Received: from client\.example \(.*\[192\.0\.2\.10\]/m);
  });

  it('v2 over INET6 with TLVs, and v1, each session with its client and the proxy on its connect line', async () => {
    const tlvs = [{ type: 0x02, value: latin1('mx.example') }, { type: 0x04, value: Buffer.alloc(5) }];
    for (const [header, client] of [
      [proxyV2({ source: '2001:db8::7', tlvs }), '2001:db8::7'],
      [latin1('PROXY TCP4 198.51.100.7 127.0.0.1 40000 25\r\n'), '198.51.100.7'],
      [latin1('PROXY TCP6 ::ffff:c633:6408 ::1 40000 25\r\n'), '198.51.100.8'],
    ] as const) {
      const { d, code } = await viaProxy(header);
      assert.equal(code, 220, client);
      assert.equal((await d.cmd('EHLO client.example')).code, 250);
      await d.quit();
      const connect = await waitFor(`${client}'s connect line`, () => linesOf('connect').find((l) => l.client === client));
      assert.equal(connect.proxy, '127.0.0.1');
    }
  });

  it('v2 LOCAL and v1 UNKNOWN (health checks): the proxy\'s own session, its connect and closed lines at debug', async () => {
    for (const header of [proxyV2({ command: 'LOCAL', family: 0, transport: 0 }), latin1('PROXY UNKNOWN\r\n')]) {
      const before = gw.logs.length;
      const { d, code } = await viaProxy(header);
      assert.equal(code, 220);
      assert.equal((await d.cmd('HELO haproxy.test')).code, 250);
      await d.quit();
      const own = () => gw.logs.slice(before).filter((l) => l.client === '127.0.0.1' && (l.msg === 'connect' || l.msg === 'connection closed'));
      const lines = await waitFor('both lines', () => (own().length === 2 ? own() : undefined));
      assert.deepEqual(lines.map((l) => [l.msg, l.level, l.proxy ?? null]), [['connect', 'debug', '127.0.0.1'], ['connection closed', 'debug', null]]);
      assert.equal(lines[0].cid, lines[1].cid);
    }
  });

  it('refuses lower case, a bare LF, junk, a v2 of another version and AF_UNIX with `* BAD`, each with its reason', async () => {
    const before = refusedCount();
    const cases: Array<[Buffer, RegExp]> = [
      [latin1('proxy TCP4 192.0.2.7 127.0.0.1 1 25\r\n'), /not a PROXY header/],
      [latin1('PROXY TCP4 192.0.2.7 127.0.0.1 1 25\n'), /bare LF/],
      [latin1('GET / HTTP/1.0\r\n\r\n'), /not a PROXY header/],
      [proxyV2({ version: 1 }), /version 1/],
      [proxyV2({ family: 3, trailing: Buffer.alloc(216) }), /AF_UNIX/],
      [proxyV2({ trailing: Buffer.from([0x04, 0x00, 0x64]) }), /runs past/],
    ];
    for (const [header] of cases) assert.equal(await rawAnswer(gw.port, header), '* BAD Invalid PROXY header\r\n');
    const lines = linesOf('client refused: invalid PROXY header');
    for (const [, why] of cases) assert.ok(lines.some((l) => why.test(String(l.reason))), `a line for ${why}: ${lines.map((l) => l.reason).join('; ')}`);
    assert.equal(lines[0].proxy, '127.0.0.1');
    // The first bytes go on the line, control bytes escaped; the same cause again (the HTTP request) is only counted.
    assert.equal(lines.find((l) => /bare LF/.test(String(l.reason)))?.input, 'PROXY TCP4 192.0.2.7 127…');
    assert.equal(lines.filter((l) => /not a PROXY header/.test(String(l.reason))).length, 1);
    assert.equal(refusedCount() - before, cases.length, 'each counted in connections_refused');
  });

  it('logs one fault of one proxy once a minute, counting every refusal', async () => {
    const before = refusedCount();
    for (let i = 0; i < 4; i++) assert.equal(await rawAnswer(gw.port, proxyV2({ command: 7 })), '* BAD Invalid PROXY header\r\n');
    assert.equal(linesOf('client refused: invalid PROXY header').filter((l) => l.reason === 'unknown command 7').length, 1);
    assert.equal(refusedCount() - before, 4);
  });

  it('closes a proxy that trickles its header at proxy_timeout from the accept, however steady the bytes', async () => {
    const header = latin1('PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n');
    // A byte every 150 ms keeps any idle timer (server.idle_timeout is 1 minute here) from ever firing; the whole
    // header would take over 6 s, the deadline is 1 s.
    const { written, answer } = await trickle(gw.port, header, 150);
    assert.ok(written < header.length, `cut off after ${written} of ${header.length} bytes`);
    assert.equal(answer, '', 'no session began');
    const line = await waitFor('the timeout line', () => linesOf('PROXY header timed out').find((l) => l.reason === 'the header was not whole in time'));
    assert.equal(line.level, 'warn');
    assert.deepEqual([line.proxy, line.timeout_ms], ['127.0.0.1', 1000]);
    assert.ok(Number(line.bytes) > 0 && Number(line.bytes) < header.length, `bytes: ${line.bytes}`);
    assert.ok(!linesOf('connect').some((l) => l.client === '192.0.2.7'));
  });

  it('closes a trusted peer that sends no header at the deadline, with a warning that says nothing came', async () => {
    const before = refusedCount();
    const s = net.connect({ port: gw.port, host: '127.0.0.1' });
    let answer = '';
    s.on('data', (d) => { answer += d.toString('latin1'); });
    await new Promise<void>((resolve, reject) => { s.on('close', () => resolve()); s.on('error', reject); });
    assert.equal(answer, '', 'no greeting: the peer owes a header first');
    const line = await waitFor('the timeout line', () => linesOf('PROXY header timed out').find((l) => l.reason === 'nothing was sent'));
    assert.deepEqual([line.proxy, line.listener, line.bytes], ['127.0.0.1', 'smtp', 0]);
    assert.equal(refusedCount() - before, 1);
  });

  it('greets a peer outside trusted_proxies at once, with no header asked of it', async () => {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.9' });
    assert.equal((await d.read()).code, 220);
    assert.equal((await d.cmd('EHLO direct.test')).code, 250);
    await d.quit();
    const connect = await waitFor('its connect line', () => linesOf('connect').find((l) => l.client === '127.0.0.9'));
    assert.equal('proxy' in connect, false);
  });
});

describe('server.proxy_protocol in a config where it cannot work', () => {
  it('is refused without trusted_proxies, and without a listener that reads the header', async () => {
    await assert.rejects(validateConfig({ server: { proxy_protocol: true } }), (e: ConfigError) => {
      const issue = e.issues.find((i) => i.path === 'server.proxy_protocol');
      assert.match(issue?.message ?? '', /needs server\.trusted_proxies/);
      assert.match(issue?.message ?? '', /You talk too soon/);
      return true;
    });
    await assert.rejects(validateConfig({ server: { proxy_protocol: true, trusted_proxies: ['192.0.2.1'], listen: [], tls_listen: ['127.0.0.1:4650'] } }), (e: ConfigError) => {
      assert.deepEqual(e.issues.map((i) => i.path), ['server.proxy_protocol']);
      assert.match(e.issues[0].message, /needs server\.listen or server\.submission_listen/);
      return true;
    });
    const ok = await validateConfig({ server: { proxy_protocol: true, trusted_proxies: ['192.0.2.1'], listen: [], submission_listen: ['127.0.0.1:5870'] } });
    assert.equal(ok.server.proxy_timeout, 5000);
    await validateConfig({ server: { proxy_protocol: false } });
  });

  it('makes `moat check-config` exit 1 naming the key', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-proxy-cfg-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      writeFileSync(file, 'server:\n  proxy_protocol: true\ndomains: [example.com]\n');
      await assert.rejects(promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file]), (e: { code: number; stdout: string; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stdout + e.stderr, /server\.proxy_protocol: needs server\.trusted_proxies/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
