// The RFC 7208 and RFC 4408 conformance suites (test/fixtures/spf-tests) must pass in full.
import assert from 'node:assert/strict';
import { runSuite } from '../../../scripts/spf/suite.ts';

describe('spf conformance suites', () => {
  for (const [file, expectedCases] of [['rfc7208-tests.yml', 203], ['rfc4408-tests.yml', 191]] as const) {
    it(`passes every case of ${file}`, async () => {
      const report = await runSuite(file);
      assert.equal(report.total, expectedCases, `${file} should hold ${expectedCases} cases`);
      const failed = report.cases.filter((c) => !c.passed).map((c) => `[${c.section}] ${c.name}: expected ${c.expected}, got ${c.got}`);
      assert.deepEqual(failed, [], `${failed.length} of ${report.total} cases failed`);
      assert.equal(report.passed, report.total);
    });
  }
});
