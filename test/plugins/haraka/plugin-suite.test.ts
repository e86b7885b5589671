// A Haraka plugin's own mocha suite (haraka-plugin-headers 1.0.4, which ships test/) run against the shim's objects
// through the haraka-test-fixtures drop-in.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('a Haraka plugin\'s own test suite against the shim (haraka-test-fixtures drop-in)', function () {
  this.timeout(60_000);

  it('passes every test of haraka-plugin-headers 1.0.4', () => {
    const suiteDir = path.dirname(require.resolve('haraka-plugin-headers-suite/package.json'));
    const r = spawnSync(process.execPath, [
      `--import=${path.join(ROOT, 'plugins/haraka/test-fixtures/register.ts')}`,
      require.resolve('mocha/bin/mocha.js'), '--no-config', '--exit', '--reporter', 'json', 'test/',
    ], { cwd: suiteDir, encoding: 'utf8', timeout: 50_000 });
    const json = r.stdout.slice(r.stdout.indexOf('{'));
    const report = JSON.parse(json) as { stats: { passes: number; failures: number; pending: number } };
    assert.equal(report.stats.failures, 0, r.stdout.slice(0, 2000));
    assert.equal(report.stats.pending, 0);
    assert.ok(report.stats.passes >= 30, `only ${report.stats.passes} tests ran`);
    assert.equal(r.status, 0, r.stderr);
  });
});
