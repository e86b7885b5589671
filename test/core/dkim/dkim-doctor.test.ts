// `moat doctor` compares each signing domain's published key with its key_file, as opendkim-testkey does: the real
// CLI, asking a loopback DNS server through dns.servers, says ok, mismatch or missing for each domain.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { keyDir, newKey, type KeyDir } from './dkim-setup.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const run = promisify(execFile);

describe('moat doctor: the DKIM keys published in DNS', function () {
  this.timeout(30_000);
  let keys: KeyDir;
  let dns: DnsTestServer;
  const key = (name: string) => newKey(keys.dir, `${name}.key`);
  let good: ReturnType<typeof key>;
  let wrong: ReturnType<typeof key>;
  let gone: ReturnType<typeof key>;

  before(async () => {
    keys = keyDir();
    good = key('good');
    wrong = key('wrong');
    gone = key('gone');
    const published = key('published-instead');
    dns = await startDnsServer({
      zones: {
        'example.com': { 's1._domainkey': { TXT: [good.record] } },
        'wrong.test': { 's1._domainkey': { TXT: [published.record] } },
        // The zone is there, the selector's record is not.
        'gone.test': { '@': { TXT: ['v=spf1 -all'] } },
      },
    });
  });
  after(async () => {
    await dns?.stop();
    keys?.remove();
  });

  async function doctor(dkim: string): Promise<{ code: number; out: string }> {
    const file = path.join(keys.dir, 'mailmoat.yaml');
    writeFileSync(file, `data_dir: ./data\ndns:\n  servers: ['${dns.address}']\n  timeout: 1s\n  tries: 1\n${dkim}`);
    return run(process.execPath, [MOAT, 'doctor', '--config', file]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );
  }

  it('says ok for a published key that is the key_file\'s, and fails a mismatch and a missing record, with the record to publish', async () => {
    const r = await doctor([
      'dkim:',
      '  domains:',
      `    example.com: { selector: s1, key_file: ${good.file} }`,
      `    wrong.test: { selector: s1, key_file: ${wrong.file} }`,
      `    gone.test: { selector: s1, key_file: ${gone.file} }`,
      '',
    ].join('\n'));
    assert.equal(r.code, 1, r.out);
    assert.ok(r.out.includes(`ok   dkim: example.com: s1._domainkey.example.com publishes the key of ${good.file}\n`), r.out);
    const wrongRecord = wrong.record.replace(/\s+/g, '');
    const mismatch = new RegExp(`^FAIL dkim: wrong\\.test: mismatch: s1\\._domainkey\\.wrong\\.test publishes another key than ${wrong.file.replace(/\./g, '\\.')}: every signature the gateway makes for wrong\\.test fails at receivers; publish: s1\\._domainkey\\.wrong\\.test\\. IN TXT (.*)$`, 'm').exec(r.out);
    assert.ok(mismatch, r.out);
    assert.equal([...mismatch[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('').replace(/\s+/g, ''), wrongRecord, 'the record printed is the key_file\'s');
    assert.match(r.out, /^FAIL dkim: gone\.test: missing: no TXT record at s1\._domainkey\.gone\.test \((NXDOMAIN|NODATA)\): every signature the gateway makes for gone\.test fails at receivers; publish: /m);
    assert.ok(!r.out.includes('PRIVATE KEY'), 'no key material in the output');
  });

  it('says there is nothing to check when no domain signs, and passes', async () => {
    const r = await doctor('');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^ok {3}dkim: no dkim\.domains: no mail is signed$/m);
  });
});
