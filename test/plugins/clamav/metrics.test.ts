// The clamav plugin's own counters in a real gateway with a real clamd: viruses found, scans without a verdict by
// reason, and messages over max_scan_size, as `moat metrics` (the control socket) and GET /metrics show them.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startClamd, type ClamdHandle } from '../../helpers/clamd.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { cleanMessage, eicarAttachment, sendOne } from './fixtures.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

/** What `moat metrics --json` prints: the running gateway's values over its control socket. */
async function moatMetrics(gw: TestGateway): Promise<Record<string, unknown>> {
  return await controlRequest(socketPath(gw.dataDir), { op: 'metrics' }, 10_000) as Record<string, unknown>;
}

async function scrape(gw: TestGateway): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${gw.gateway.admin!.addresses[0].port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

describe('clamav counters in the gateway metrics', function () {
  this.timeout(60_000);
  let clamd: ClamdHandle;
  const gateways: TestGateway[] = [];
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();

  before(async () => { clamd = await startClamd(); });
  after(async () => {
    for (const g of gateways) await g.stop();
    for (const s of sockets) s.destroy();
    for (const s of servers) await new Promise((r) => s.close(r));
    await clamd?.close();
  });

  async function gatewayWith(options: Record<string, unknown>): Promise<TestGateway> {
    const gw = await startGateway({ config: { http: { listen: ['127.0.0.1:0'] }, plugins: [{ name: 'clamav', ...options }] } });
    gateways.push(gw);
    return gw;
  }

  it('counts a virus in clamav_viruses and a stopped clamd in clamav_scan_failures_unreachable', async () => {
    const gw = await gatewayWith({ socket: clamd.socket });
    assert.equal((await sendOne(gw.port, cleanMessage('metrics-clean'))).code, 250);
    let m = await moatMetrics(gw);
    assert.equal(m.plugins, undefined, 'a clean scan counts nothing of its own');

    assert.equal((await sendOne(gw.port, eicarAttachment('metrics-virus'))).code, 554);
    m = await moatMetrics(gw);
    assert.deepEqual(m.plugins, { clamav_viruses: 1 });
    assert.match(await scrape(gw), /^# TYPE mailmoat_clamav_viruses_total counter\nmailmoat_clamav_viruses_total 1$/m);

    await clamd.stop();
    try {
      for (let i = 0; i < 2; i++) assert.equal((await sendOne(gw.port, cleanMessage(`metrics-down-${i}`))).code, 451);
    } finally {
      await clamd.start();
    }
    m = await moatMetrics(gw);
    assert.deepEqual(m.plugins, { clamav_scan_failures_unreachable: 2, clamav_viruses: 1 });
    const text = await scrape(gw);
    assert.match(text, /^# TYPE mailmoat_clamav_scan_failures_unreachable_total counter\nmailmoat_clamav_scan_failures_unreachable_total 2$/m);
    // The finding counts the same messages, without the reason.
    assert.match(text, /^mailmoat_findings_total\{symbol="CLAM_FAIL"\} 2$/m);
    const failed = gw.logs.filter((r) => r.msg === 'virus scan failed').map((r) => r.kind);
    assert.deepEqual(failed, ['unreachable', 'unreachable'], 'the counter follows the kind the log line gives');

    // clamd back: scans go on and the counters stay where they were.
    assert.equal((await sendOne(gw.port, cleanMessage('metrics-back'))).code, 250);
    assert.deepEqual((await moatMetrics(gw)).plugins, { clamav_scan_failures_unreachable: 2, clamav_viruses: 1 });
  });

  it('counts a clamd that takes the message and never answers in clamav_scan_failures_timeout, kept over a reload', async () => {
    const silent = net.createServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {}).on('close', () => sockets.delete(sock)).resume();
    });
    servers.push(silent);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const options = { host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, scan_timeout: '500ms', max_wait: '200ms', connect_timeout: '500ms', timeout: '5s' };
    const gw = await gatewayWith(options);
    assert.equal((await sendOne(gw.port, cleanMessage('metrics-silent'))).code, 451);
    assert.deepEqual((await moatMetrics(gw)).plugins, { clamav_scan_failures_timeout: 1 });
    // A reload makes a new plugin instance; its counts go on from the old one's, as a Prometheus counter must.
    const config = gw.gateway.runtime.config;
    assert.equal(await gw.gateway.reload({ ...config, plugins: config.plugins.map((p) => ({ ...p, on_error: 'accept' })) }), true);
    assert.equal((await sendOne(gw.port, cleanMessage('metrics-silent-accept'))).code, 250);
    assert.deepEqual((await moatMetrics(gw)).plugins, { clamav_scan_failures_timeout: 2 });
    assert.match(await scrape(gw), /^mailmoat_clamav_scan_failures_timeout_total 2$/m);
  });

  it('counts messages over max_scan_size in clamav_oversize, refused ones too, each with a CLAM_OVERSIZE finding after DATA', async () => {
    const gw = await gatewayWith({ socket: clamd.socket, max_scan_size: '1KB' });
    const big = cleanMessage('metrics-oversize') + 'x'.repeat(2000) + '\r\n';
    const refused = await sendOne(gw.port, big);
    assert.deepEqual([refused.code, refused.text], [552, '5.3.4 Message too large to scan for viruses']);
    assert.deepEqual((await moatMetrics(gw)).plugins, { clamav_oversize: 1 });
    let text = await scrape(gw);
    assert.match(text, /^# TYPE mailmoat_clamav_oversize_total counter\nmailmoat_clamav_oversize_total 1$/m);
    assert.match(text, /^mailmoat_findings_total\{symbol="CLAM_OVERSIZE"\} 1$/m);
    // The message's summary line says why it was refused, with its size.
    const summary = gw.logs.find((r) => r.msg === 'message' && r.verdict === 'reject');
    assert.deepEqual(summary?.symbols, ['CLAM_OVERSIZE(0)']);
    assert.deepEqual(summary?.details, [`CLAM_OVERSIZE: ${summary?.size} bytes`]);

    // A client that declares its size is refused at MAIL FROM, before any message: counted, with no finding.
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello()).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<sender@example.org> SIZE=5000')).code, 552);
    } finally {
      await d.quit();
    }
    assert.deepEqual((await moatMetrics(gw)).plugins, { clamav_oversize: 2 });
    text = await scrape(gw);
    assert.match(text, /^mailmoat_clamav_oversize_total 2$/m);
    assert.match(text, /^mailmoat_findings_total\{symbol="CLAM_OVERSIZE"\} 1$/m);
  });
});
