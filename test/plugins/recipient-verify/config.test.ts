// The options of recipient-verify: defaults as documented, and what check-config refuses.
import assert from 'node:assert/strict';
import { configSchema } from '../../../plugins/recipient-verify/config.ts';
import type { Issue } from '../../../core/index.ts';

const parse = (input: object) => { const issues: Issue[] = []; const value = configSchema.parse(input, 'plugins[0]', issues); return { value, issues }; };

describe('plugins/recipient-verify: config', () => {
  it('has the documented defaults', () => {
    const { value, issues } = parse({});
    assert.deepEqual(issues, []);
    assert.equal(value.target, undefined);
    assert.deepEqual(value.routes, {});
    assert.equal(value.on_error, 'tempfail');
    assert.equal(value.positive_ttl, 7 * 86_400_000);
    assert.equal(value.negative_ttl, 3 * 3_600_000);
    assert.equal(value.max_probes, 8);
    assert.equal(value.probe_timeout, 10_000);
    assert.equal(value.skip_trusted, true);
  });

  it('takes the gateway\'s smarthost and routes shapes', () => {
    const { value, issues } = parse({
      target: { url: 'smtp://10.0.0.20:25', starttls: 'required' },
      routes: { 'example.org': 'smtp://10.0.0.21', '.example.net': { via: 'mx' }, '*': 'default' },
      positive_ttl: '31d', negative_ttl: '1h',
    });
    assert.deepEqual(issues, []);
    assert.deepEqual(value.target, { url: 'smtp://10.0.0.20:25', starttls: 'required', tls_verify: true });
    assert.equal(value.positive_ttl, 31 * 86_400_000);
  });

  it('refuses what a probe could not use', () => {
    assert.ok(parse({ target: 'http://10.0.0.20' }).issues.some((i) => i.path === 'plugins[0].target'));
    assert.ok(parse({ on_error: 'accept' }).issues.some((i) => i.path === 'plugins[0].on_error'));
    assert.ok(parse({ max_probes: 0 }).issues.some((i) => i.path === 'plugins[0].max_probes'));
    assert.ok(parse({ routes: { 'example.org': 'ftp://x' } }).issues.length > 0);
  });
});
