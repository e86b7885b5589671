// `npm run conformance:spf`: runs the RFC 7208 and RFC 4408 SPF suites and prints the pass count of each.
import { runSuite, SUITES } from './suite.ts';

const verbose = process.argv.includes('--verbose') || process.argv.includes('-v');
let allPassed = true;
for (const file of SUITES) {
  const report = await runSuite(file);
  const failed = report.cases.filter((c) => !c.passed);
  console.log(`${file}: ${report.passed}/${report.total} passed`);
  for (const c of verbose ? report.cases : failed) {
    console.log(`  ${c.passed ? 'ok  ' : 'FAIL'} [${c.section}] ${c.name}: expected ${c.expected}, got ${c.got}`);
  }
  if (failed.length) allPassed = false;
}
process.exitCode = allPassed ? 0 : 1;
