// A probe logs in with its target's credentials as a delivery would, and the client sends them over TLS only: a
// `target` with credentials and `starttls: off` is refused by the config check (check-config, start, reload), as the
// gateway's own smarthost and routes are, instead of every probe failing and every RCPT getting the on_error answer.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { configSchema } from '../../../plugins/recipient-verify/config.ts';
import type { Issue } from '../../../core/index.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');
const PASSWORD = 'probe-secret-not-for-logs';

const issuesOf = (input: object): Issue[] => { const issues: Issue[] = []; configSchema.parse(input, 'plugins[0]', issues); return issues; };

describe('plugins/recipient-verify: target credentials need TLS', function () {
  this.timeout(60_000);
  let base: string;
  before(() => { base = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rv-cred-')); });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('refuses a target URL with credentials and starttls: off, naming the key and not the password', () => {
    const issues = issuesOf({ target: { url: `smtp://probe:${PASSWORD}@10.0.0.20:25`, starttls: 'off' } });
    assert.deepEqual(issues.map((i) => i.path), ['plugins[0].target.starttls']);
    assert.match(issues[0].message, /is off, but the URL holds credentials: .*over TLS only/);
    assert.ok(!JSON.stringify(issues).includes(PASSWORD));
  });

  it('passes credentials that can go over TLS, and starttls: off without credentials', () => {
    assert.deepEqual(issuesOf({ target: { url: `smtp://probe:${PASSWORD}@10.0.0.20:25`, starttls: 'opportunistic' } }), []);
    assert.deepEqual(issuesOf({ target: { url: `smtps://probe:${PASSWORD}@10.0.0.20:465`, starttls: 'off' } }), []);
    assert.deepEqual(issuesOf({ target: { url: 'smtp://10.0.0.20:25', starttls: 'off' } }), []);
    assert.deepEqual(issuesOf({ target: `smtp://probe:${PASSWORD}@10.0.0.20:25` }), [], 'a bare URL is opportunistic');
  });

  it('moat check-config refuses it with the plugin entry\'s key path', async () => {
    const file = path.join(base, 'mailmoat.yaml');
    writeFileSync(file, stringify({
      server: { listen: ['127.0.0.1:0'] }, domains: ['example.com'], data_dir: path.join(base, 'data'),
      plugins: [{ name: 'recipient-verify', target: { url: `smtp://probe:${PASSWORD}@127.0.0.1:2`, starttls: 'off' } }],
    }));
    const r = await promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file], { timeout: 30_000 })
      .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /plugins(\[0\]|\.0)\.target\.starttls: is off, but the URL holds credentials/);
    assert.ok(!r.stderr.includes(PASSWORD), r.stderr);
  });
});
