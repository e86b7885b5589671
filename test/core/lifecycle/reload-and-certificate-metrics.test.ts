// What an alert can watch besides the log: whether the last reload was refused, when it was tried, and when the
// certificate the listeners serve runs out; and a warning line for a certificate within 14 days of its end.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { freePort } from '../../helpers/ports.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { expiryWarning } from '../../../core/smtp/tls-certificate-checks.ts';
import type { GatewayConfig } from '../../../core/config/gateway-schema.ts';

const DAY = 86_400_000;

function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `no ${name} in\n${text}`);
  return Number(m[1]);
}

describe('lifecycle: reload and certificate metrics', function () {
  this.timeout(60_000);
  let gw: TestGateway | undefined;
  let endDir: () => void = () => undefined;
  after(async () => {
    await gw?.stop();
    endDir();
  });

  it('reports the last reload and the certificate\'s end, and warns of a certificate ending within 14 days', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-cert-'));
    endDir = holdUntilExit({ dir });
    const cert = path.join(dir, 'short.crt');
    const key = path.join(dir, 'short.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '10',
      '-subj', '/CN=mx.test.example', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const ends = new Date(new X509Certificate(readFileSync(cert)).validTo);
    const httpPort = await freePort();
    const before = Math.floor(Date.now() / 1000);
    gw = await startGateway({ config: { server: { tls: { cert, key } }, http: { listen: [`127.0.0.1:${httpPort}`] } } });
    const scrape = async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();

    const warned = gw.logs.find((l) => l.msg === 'the TLS certificate expires soon');
    assert.ok(warned);
    assert.equal(warned.level, 'warn');
    assert.equal(warned.warning, `server.tls.cert ${cert} expires on ${ends.toISOString()} (in 9 days): renew it and reload (moat reload)`);

    let text = await scrape();
    assert.match(text, /^# TYPE mailmoat_tls_certificate_expiry_timestamp_seconds gauge$/m);
    assert.equal(sample(text, 'mailmoat_tls_certificate_expiry_timestamp_seconds'), ends.getTime() / 1000);
    assert.equal(sample(text, 'mailmoat_config_last_reload_success'), 1);
    const started = sample(text, 'mailmoat_config_last_reload_timestamp_seconds');
    assert.ok(started >= before && started <= Math.ceil(Date.now() / 1000), String(started));

    const running = gw.gateway.runtime.config;
    assert.equal(await gw.gateway.reload({ ...running, log: { ...running.log, level: 'loud' } } as unknown as GatewayConfig), false);
    text = await scrape();
    assert.equal(sample(text, 'mailmoat_config_last_reload_success'), 0);
    assert.ok(sample(text, 'mailmoat_config_last_reload_timestamp_seconds') >= started);

    assert.equal(await gw.gateway.reload(running), true);
    assert.equal(sample(await scrape(), 'mailmoat_config_last_reload_success'), 1);
  });

  it('words the daily warning for a certificate near its end, one that ended, and none for one far from it', () => {
    const now = Date.parse('2026-11-23T00:00:00Z');
    assert.equal(expiryWarning(new Date(now + 30 * DAY), '/etc/x.crt', now), undefined);
    assert.equal(expiryWarning(new Date(now + 14 * DAY), '/etc/x.crt', now), 'server.tls.cert /etc/x.crt expires on 2026-12-07T00:00:00.000Z (in 14 days): renew it and reload (moat reload)');
    assert.equal(expiryWarning(new Date(now + DAY + 1), undefined, now), 'the self-signed certificate expires on 2026-11-24T00:00:00.001Z (in 1 day): a reload or restart makes a new one');
    assert.equal(expiryWarning(new Date(now + 3_600_000), '/etc/x.crt', now), 'server.tls.cert /etc/x.crt expires on 2026-11-23T01:00:00.000Z (in less than a day): renew it and reload (moat reload)');
    assert.equal(expiryWarning(new Date(now - DAY), '/etc/x.crt', now), 'server.tls.cert /etc/x.crt expired on 2026-11-22T00:00:00.000Z; clients that verify certificates refuse it: renew it and reload (moat reload)');
  });
});
