// dkim.arc as an admin sets it up: `moat check-config` refuses a sealing key that cannot seal (missing, or Ed25519,
// which ARC's rsa-sha256 cannot use) and warns when the dmarc plugin, the source of the results sealed, is not in the
// chain; `moat doctor` compares the published sealing key with key_file as it does the DKIM keys; and a relay built
// when the key file was gone leaves mail unsealed, said once and counted as key_unreadable.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { validateConfig } from '../../../core/config/load.ts';
import { outgoingSigner } from '../../../core/dkim/outgoing-signer.ts';
import { Metrics } from '../../../core/metrics.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { JsonLogger } from '../../../core/log/logger.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import { moat, type Ran } from '../../scripts/moat-cli.ts';
import { keyDir, newKey, type KeyDir } from './dkim-setup.ts';

describe('dkim.arc: check-config, doctor, and a key gone at start (core/dkim/arc-config.ts)', function () {
  this.timeout(30_000);
  let keys: KeyDir;
  let rsa: { file: string; record: string };
  let dns: DnsTestServer;

  before(async () => {
    keys = keyDir();
    rsa = newKey(keys.dir, 'arc1.key');
    dns = await startDnsServer({ zones: { 'receiver.test': { 'arc1._domainkey': { TXT: [rsa.record] }, '@': { TXT: ['v=spf1 -all'] } } } });
  });
  after(async () => {
    await dns?.stop();
    keys?.remove();
  });

  /** `moat COMMAND --config` on a config of `lines` after a data_dir and the loopback DNS server. */
  function withConfig(command: string, lines: string[]): Promise<Ran> {
    const file = path.join(keys.dir, 'mailmoat.yaml');
    writeFileSync(file, [`data_dir: ${path.join(keys.dir, 'data')}`, 'dns:', `  servers: ['${dns.address}']`, '  timeout: 1s', '  tries: 1', ...lines, ''].join('\n'));
    return moat([command, '--config', file]);
  }
  const arcBlock = (keyFile: string, selector = 'arc1') => ['dkim:', '  arc:', '    domain: receiver.test', `    selector: ${selector}`, `    key_file: ${keyFile}`];
  const dmarc = ['plugins:', '  - name: spf', '  - name: dmarc'];

  it('check-config passes an RSA sealing key with the dmarc plugin in the chain, without a warning', async () => {
    const r = await withConfig('check-config', [...dmarc, ...arcBlock(rsa.file)]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
  });

  it('check-config refuses an Ed25519 key and a missing one, naming dkim.arc.key_file', async () => {
    const ed = newKey(keys.dir, 'ed.key', 'ed25519');
    const refused = await withConfig('check-config', [...dmarc, ...arcBlock(ed.file)]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /dkim\.arc\.key_file: .*ed\.key holds an ed25519 key: ARC seals with rsa-sha256 only/);
    const missing = await withConfig('check-config', [...dmarc, ...arcBlock(path.join(keys.dir, 'nowhere.key'))]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /dkim\.arc\.key_file: cannot read DKIM key .*nowhere\.key: ENOENT/);
  });

  it('check-config warns when the dmarc plugin is not in the chain, or its header is off', async () => {
    const none = await withConfig('check-config', ['plugins:', '  - name: spf', ...arcBlock(rsa.file)]);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /^warning: dkim\.arc: the dmarc plugin is not in plugins: .*arc_unsealed\{reason="no_auth_results"\}/m);
    const off = await withConfig('check-config', ['plugins:', '  - name: dmarc', '    header: off', ...arcBlock(rsa.file)]);
    assert.match(off.stderr, /^warning: dkim\.arc: the dmarc plugin's header is off/m);
  });

  it('moat doctor says ok for a published sealing key, and fails one that is not published, with the record to publish', async () => {
    const ok = await withConfig('doctor', [...dmarc, ...arcBlock(rsa.file)]);
    assert.ok(ok.stdout.includes(`ok   dkim: ARC seal: receiver.test: arc1._domainkey.receiver.test publishes the key of ${rsa.file}\n`), ok.stdout + ok.stderr);
    const unpublished = await withConfig('doctor', [...dmarc, ...arcBlock(rsa.file, 'arc2')]);
    assert.equal(unpublished.code, 1);
    assert.match(unpublished.stdout, /^FAIL dkim: ARC seal: receiver\.test: missing: no TXT record at arc2\._domainkey\.receiver\.test \((?:NXDOMAIN|NODATA)\): every ARC seal the gateway makes fails.*; publish: arc2\._domainkey\.receiver\.test\. IN TXT /m);
  });

  it('a sealing key gone when the relay is built: mail leaves unsealed, said once and counted as key_unreadable', async () => {
    const gone = newKey(keys.dir, 'gone.key');
    const cfg = await validateConfig({ plugins: [{ name: 'dmarc' }], dkim: { arc: { domain: 'receiver.test', selector: 'gone', key_file: gone.file } } });
    rmSync(gone.file);
    const lines: LogFields[] = [];
    const log = new JsonLogger({ level: 'debug', format: 'json', sink: { write() {} }, listeners: [(r) => { lines.push(r); }] });
    const metrics = new Metrics();
    const signer = outgoingSigner(cfg, log, metrics);
    assert.ok(lines.some((l) => l.msg === 'ARC key not loaded: mail to be sealed leaves unsealed' && l.arc === 'receiver.test'));
    const entry = {
      id: 'gone1', receivedAt: Date.now(), authenticated: false, recipients: [{ address: 'bob@receiver.test', status: 'pending' }],
      verdict: { action: 'accept', score: 0, symbols: [] },
      prepend: 'Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=a@good.test; arc=none\r\n', remove: [],
    } as unknown as QueueEntry;
    const sent = await signer.sign(entry, () => Readable.from([Buffer.from(testMessage({ from: 'a@good.test' }))]));
    assert.equal(sent.added, 0);
    signer.left(entry, sent, 'inside[127.0.0.1]:25', ['bob@receiver.test']);
    signer.left(entry, sent, 'inside[127.0.0.1]:25', ['carol@receiver.test']);
    assert.deepEqual(metrics.snapshot().arc_unsealed_by_reason, { key_unreadable: 1, no_auth_results: 0, chain_ended: 0, sealing_error: 0 });
    assert.equal(metrics.snapshot().arc_sealed, 0);
    assert.equal(lines.filter((l) => l.msg === 'not ARC-sealed' && l.qid === 'gone1' && l.reason === 'key_unreadable').length, 1);
  });
});
