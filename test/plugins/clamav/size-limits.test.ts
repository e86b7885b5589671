// An admin raises limits.max_message_size above the clamav plugin's max_scan_size: the gateway then advertises a SIZE
// it does not keep, and a message between the two is refused for good after its whole transfer. `moat check-config`
// says so (a warning, exit 0: refusing what cannot be scanned may be meant), and stays quiet when the limits agree or
// on_oversize accepts such messages unscanned.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { greeted, testMessage } from '../../helpers/smtp-dialog.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

describe('clamav: max_scan_size under limits.max_message_size', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-clamav-sizes-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function checkConfig(sets: string[]): { code: number; stdout: string; stderr: string } {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, 'data_dir: ./data\ndomains: [example.com]\nlimits: { max_message_size: 50MB }\nplugins:\n  - name: clamav\n    socket: ./clamd.sock\n');
    const r = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file, ...sets.flatMap((x) => ['--set', x])], { encoding: 'utf8', cwd: os.tmpdir() });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  it('warns about the default 25 MB scan limit under a 50 MB message limit, with what to set, and passes', () => {
    const r = checkConfig([]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /mailmoat\.yaml: OK$/m);
    const warning = r.stderr.split('\n').find((l) => l.startsWith('warning: plugins[0]: '));
    assert.ok(warning, r.stderr);
    assert.match(warning, /limits\.max_message_size is 50MB \(52428800 bytes\), which the gateway advertises \(SIZE 52428800\)/);
    assert.match(warning, /max_scan_size is 25MB \(26214400 bytes\): the clamav plugin refuses every message between the two for good \(552 5\.3\.4/);
    assert.match(warning, /Raise max_scan_size to 50MB \(52428800 bytes\) and clamd's StreamMaxLength with it, or lower limits\.max_message_size to 25MB/);
    assert.match(warning, /or set on_oversize: accept/);
  });

  it('says a deferral when on_oversize is tempfail, and names the command scanner\'s own limit', () => {
    const r = checkConfig(['plugins.0.on_oversize=tempfail', 'plugins.0.scanner=command', 'plugins.0.command.template=/bin/true']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^warning: plugins\[0\]: .*defers every message between the two \(452 4\.3\.1\).*the scanner's own size limit with it/m);
  });

  it('is quiet when max_scan_size reaches the message limit, or when oversized mail is accepted unscanned', () => {
    for (const sets of [['plugins.0.max_scan_size=50MB'], ['plugins.0.max_scan_size=60MB'], ['plugins.0.on_oversize=accept'], ['limits.max_message_size=25MB']]) {
      const r = checkConfig(sets);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /max_scan_size/, `${sets.join(' ')}: ${r.stderr}`);
    }
  });

  it('warns of what the gateway does: SIZE offers 2 MB, and a 1.5 MB message gets 552 5.3.4 after its transfer', async () => {
    // The size check comes before any scan, so no clamd is needed to show the refusal the warning foretells.
    let gw: TestGateway | undefined;
    try {
      gw = await startGateway({ config: { limits: { max_message_size: '2MB' }, plugins: [{ name: 'clamav', socket: path.join(dir, 'no-clamd.sock'), max_scan_size: '1MB' }] } });
      const { d, ehlo } = await greeted(gw.port);
      assert.ok(ehlo.includes('SIZE 2097152'), ehlo.join('\n'));
      // A client that declares the size hears it at MAIL FROM; one that does not, after its transfer.
      const declared = await d.cmd('MAIL FROM:<sender@client.example> SIZE=1600000');
      assert.deepEqual([declared.code, declared.text], [552, '5.3.4 Message too large to scan for viruses']);
      assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const body = ('x'.repeat(76) + '\r\n').repeat(20_000);
      const r = await d.data(testMessage({ body }));
      assert.equal(r.code, 552, r.text);
      assert.match(r.text, /5\.3\.4 Message too large to scan for viruses/);
      await d.quit();
      // The start said so too, as a warning in the log.
      assert.ok(gw.logs.some((l) => l.level === 'warn' && /max_scan_size is 1MB .*the clamav plugin refuses/.test(String(l.msg))), 'no warning at start');
    } finally { await gw?.stop(); }
    const file = path.join(dir, 'same.yaml');
    writeFileSync(file, `data_dir: ./data\ndomains: [example.com]\nlimits: { max_message_size: 2MB }\nplugins:\n  - name: clamav\n    socket: ./no-clamd.sock\n    max_scan_size: 1MB\n`);
    const check = spawnSync(process.execPath, [MOAT, 'check-config', '--config', file], { encoding: 'utf8', cwd: os.tmpdir() });
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stderr, /^warning: plugins\[0\]: limits\.max_message_size is 2MB \(2097152 bytes\).*max_scan_size is 1MB \(1048576 bytes\): the clamav plugin refuses/m);
  });
});
