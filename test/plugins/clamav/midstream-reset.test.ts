// A network that resets clamd's INSTREAM connections part way (a proxy or firewall in front of clamd) is a scanner
// fault, not clamd's size limit: a clean message well within max_scan_size gets 451 and is sent again, never a 552.
// A real gateway, a real clamd, and a TCP proxy that resets every INSTREAM connection after 100 KB (PING passes).
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startClamd, type ClamdHandle } from '../../helpers/clamd.ts';
import { cleanMessage, sendOne } from './fixtures.ts';

describe('clamav: INSTREAM connections reset mid-stream by the network', function () {
  this.timeout(60_000);
  let clamd: ClamdHandle;
  let proxy: net.Server;
  let proxyPort: number;
  let resets = 0;
  let gw: TestGateway | undefined;

  before(async () => {
    clamd = await startClamd();
    proxy = net.createServer((client) => {
      const up = net.createConnection({ host: clamd.host, port: clamd.port });
      let seen = 0;
      let instream: boolean | undefined;
      client.on('data', (d) => {
        instream ??= d.subarray(0, 9).toString() === 'zINSTREAM';
        seen += d.length;
        if (instream && seen > 100 * 1024) { resets++; client.resetAndDestroy(); up.destroy(); return; }
        up.write(d);
      });
      up.on('data', (d) => client.write(d));
      up.on('end', () => client.end());
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    proxyPort = (proxy.address() as net.AddressInfo).port;
  });
  after(async () => {
    await gw?.stop();
    await new Promise((r) => proxy?.close(r));
    await clamd?.close();
  });

  it('answers 451 4.7.0 for a clean 410 KB message and logs a scanner fault, counted in the metrics', async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'clamav', host: '127.0.0.1', port: proxyPort }] } });
    const message = cleanMessage('clamav-reset') + `${'y'.repeat(76)}\r\n`.repeat(5300);
    assert.ok(message.length > 400_000 && message.length < 420_000, String(message.length));
    const r = await sendOne(gw.port, message);
    assert.ok(resets >= 2, `the proxy reset the scan and its second try (${resets})`);
    assert.equal(r.code, 451, `${r.code} ${r.text}`);
    assert.match(r.text, /^4\.7\.0 /);
    const failed = gw.logs.find((l) => l.msg === 'virus scan failed');
    assert.ok(failed, 'logged as a scanner failure');
    assert.equal(failed.kind, 'error');
    assert.match(String(failed.error), /closed the connection during INSTREAM after \d+ bytes .* of \d+ bytes sent, within max_scan_size/);
    assert.ok(!gw.logs.some((l) => String(l.msg).startsWith('clamd refused the message as over its StreamMaxLength')));
    assert.equal(gw.gateway.runtime.metrics.snapshot().findings_CLAM_FAIL, 1);
    assert.match(gw.gateway.runtime.metrics.prometheus(), /^mailmoat_findings_total\{symbol="CLAM_FAIL"\} 1$/m);
  });
});
