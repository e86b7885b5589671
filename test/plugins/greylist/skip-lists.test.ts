// Skip lists refuse entries that could never match, saying what to write instead, and skip_recipients exempts
// addresses and local parts: by default postmaster@ and abuse@, which RFC 2142 says must reach a person.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { validate } from '../../../core/config/schema.ts';
import { configSchema } from '../../../plugins/greylist/config.ts';
import { checkConfig } from '../../../scripts/cli/check-config.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { deliver } from './session.ts';

const issuesOf = (options: Record<string, unknown>) => validate(configSchema, options).issues;

describe('greylist skip list entries', () => {
  it('refuses addresses and wildcards among domains, naming the entry and the fix', () => {
    const issues = issuesOf({
      skip_recipient_domains: ['example.org', 'postmaster@example.com', 'abuse@', '.lists.example'],
      skip_sender_domains: ['*.google.com', 'bounce@sender.example', 'not a domain'],
    });
    assert.deepEqual(issues.map((i) => i.path), [
      'skip_recipient_domains[1]', 'skip_recipient_domains[2]', 'skip_sender_domains[0]', 'skip_sender_domains[1]', 'skip_sender_domains[2]',
    ]);
    assert.match(issues[0].message, /"postmaster@example\.com" is an address, not a domain: list it in skip_recipients/);
    assert.match(issues[1].message, /"abuse@" is an address.*skip_recipients/);
    assert.match(issues[2].message, /"\*\.google\.com": a \* matches nothing here; write \.google\.com for every subdomain of google\.com/);
    assert.match(issues[3].message, /give its domain \(sender\.example\)/);
    assert.match(issues[4].message, /is not a domain name/);
  });

  it('takes addresses and local parts in skip_recipients, and refuses what is neither', () => {
    assert.deepEqual(issuesOf({ skip_recipients: ['postmaster@', 'Sales@Example.com', 'hostmaster@'] }), []);
    const issues = issuesOf({ skip_recipients: ['@example.com', 'postmaster', 'a b@example.com'] });
    assert.deepEqual(issues.map((i) => i.path), ['skip_recipients[0]', 'skip_recipients[1]', 'skip_recipients[2]']);
    assert.match(issues[0].message, /use skip_recipient_domains \(example\.com\)/);
    assert.match(issues[1].message, /write postmaster@ for that local part at every domain/);
  });

  it('refuses a wildcard in skip_client_names', () => {
    assert.match(issuesOf({ skip_client_names: ['*.google.com'] })[0].message, /write \.google\.com/);
  });

  it('makes moat check-config fail for such an entry', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-glskip-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      writeFileSync(file, stringify({ data_dir: path.join(dir, 'data'), domains: ['example.com'], plugins: [{ name: 'greylist', skip_recipient_domains: ['postmaster@example.com'] }] }));
      const { issues } = await checkConfig({ file });
      assert.ok(issues.some((i) => /skip_recipient_domains\[0\]/.test(i.path) && /skip_recipients/.test(i.message)), JSON.stringify(issues));
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('greylist skip_recipients over SMTP', function () {
  this.timeout(20_000);
  let dflt: TestGateway;
  let listed: TestGateway;
  before(async () => {
    dflt = await startGateway({ config: { plugins: [{ name: 'greylist', delay: '1h' }] } });
    listed = await startGateway({ config: { plugins: [{ name: 'greylist', delay: '1h', skip_recipients: ['sales@example.com'] }] } });
  });
  after(async () => { await dflt?.stop(); await listed?.stop(); });

  it('lets postmaster@ and abuse@ of any local domain through by default, and greylists the rest', async () => {
    const r = await deliver(dflt.port, { ip: '203.0.113.120', from: 'x@sender.test', to: ['Postmaster@example.com', 'abuse@example.com', 'user@example.com'] });
    assert.deepEqual(r.rcpts.map((x) => x.code), [250, 250, 451]);
    assert.equal(r.data?.code, 250);
    const reasons = dflt.logs.filter((l) => l.msg === 'greylist skipped').map((l) => [l.to, l.reason]);
    assert.deepEqual(reasons, [[['Postmaster@example.com'], 'recipient'], [['abuse@example.com'], 'recipient']]);
  });

  it('takes a listed address instead of the defaults when skip_recipients is set', async () => {
    const r = await deliver(listed.port, { ip: '203.0.113.121', from: 'x@sender.test', to: ['SALES@example.com', 'postmaster@example.com'] });
    assert.deepEqual(r.rcpts.map((x) => x.code), [250, 451]);
  });
});
