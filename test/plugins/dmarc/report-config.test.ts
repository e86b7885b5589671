// The reporting options: off by default, and refused at start (and by check-config) when a report could not be made.
import assert from 'node:assert/strict';
import { validate } from '../../../core/config/schema.ts';
import { configSchema } from '../../../plugins/dmarc/config.ts';

const issuesOf = (reporting: unknown) => validate(configSchema, { reporting }).issues.map((i) => `${i.path}: ${i.message}`);

describe('dmarc reporting options', () => {
  it('is off by default, with a UTC day as the interval', () => {
    const { value, issues } = validate(configSchema, {});
    assert.deepEqual(issues, []);
    assert.equal(value.reporting.enabled, false);
    assert.equal(value.reporting.interval, 86_400_000);
    assert.equal(value.reporting.max_records, 200);
    assert.equal(value.reporting.max_domains, 1000);
  });

  it('needs org_name and email once enabled', () => {
    const issues = issuesOf({ enabled: true });
    assert.ok(issues.some((i) => i.startsWith('reporting.org_name: is required when reporting is enabled')), issues.join('\n'));
    assert.ok(issues.some((i) => i.startsWith('reporting.email: is required when reporting is enabled')), issues.join('\n'));
    assert.deepEqual(issuesOf({ enabled: true, org_name: 'Receiver', email: 'dmarc@receiver.test' }), []);
  });

  it('refuses an email that is no plain address, and an interval that does not divide a day', () => {
    assert.match(issuesOf({ enabled: true, org_name: 'R', email: 'Reports <dmarc@receiver.test>' }).join('\n'), /reporting\.email: expected an address/);
    assert.match(issuesOf({ interval: '5h' }).join('\n'), /reporting\.interval: must divide a day/);
    assert.match(issuesOf({ interval: '30m' }).join('\n'), /reporting\.interval: expected a duration .* at least 1h/);
    assert.deepEqual(issuesOf({ interval: '6h' }), []);
  });
});
