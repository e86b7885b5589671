// Runs an openspf/pyspf YAML conformance suite through checkHost, each section over a resolver made from its zone data.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { checkHost } from '../../plugins/spf/lib/check-host.ts';
import type { SpfResult } from '../../plugins/spf/lib/types.ts';
import { zoneResolver, type ZoneData } from './zone-resolver.ts';

interface SuiteCase {
  host: string;
  mailfrom: string;
  helo: string;
  result: SpfResult | SpfResult[];
  explanation?: string;
}

interface SuiteSection {
  description: string;
  tests: Record<string, SuiteCase>;
  zonedata: ZoneData;
}

export interface CaseOutcome {
  section: string;
  name: string;
  passed: boolean;
  expected: string;
  got: string;
}

export interface SuiteReport {
  file: string;
  total: number;
  passed: number;
  cases: CaseOutcome[];
}

/** The suites, copied into the project's test fixtures so that a checkout tests on its own (see their README). */
export const SUITE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/spf-tests');
export const SUITES = ['rfc7208-tests.yml', 'rfc4408-tests.yml'] as const;

/** The identity a case checks: MAIL FROM's domain, or the HELO name for a null sender (a bare domain is taken as is). */
function identity(c: SuiteCase): { domain: string; sender: string } {
  if (c.mailfrom === '' || c.mailfrom === undefined) return { domain: c.helo, sender: `postmaster@${c.helo}` };
  const at = c.mailfrom.lastIndexOf('@');
  if (at < 0) return { domain: c.mailfrom, sender: `postmaster@${c.mailfrom}` };
  return { domain: c.mailfrom.slice(at + 1), sender: c.mailfrom };
}

async function runCase(section: SuiteSection, name: string, c: SuiteCase): Promise<CaseOutcome> {
  const { domain, sender } = identity(c);
  const r = await checkHost({ ip: String(c.host), domain, sender, helo: String(c.helo) }, { resolver: zoneResolver(section.zonedata) });
  const accepted = ([] as SpfResult[]).concat(c.result);
  let passed = accepted.includes(r.result);
  // `DEFAULT` stands for the implementation's own text. DNS names are case-insensitive, and the suite writes
  // %{ir} nibbles in upper case where RFC 7208 7.4's example writes lower case, so compare without case.
  const wantText = c.explanation !== undefined && c.explanation !== 'DEFAULT' && r.result === 'fail';
  if (wantText && (r.explanation ?? '').toLowerCase() !== c.explanation!.toLowerCase()) passed = false;
  return {
    section: section.description,
    name,
    passed,
    expected: accepted.join('|') + (wantText ? ` "${c.explanation}"` : ''),
    got: r.result + (wantText ? ` "${r.explanation}"` : '') + (r.problem ? ` (${r.problem})` : ''),
  };
}

/** Runs one suite file from SUITE_DIR (or an absolute path). */
export async function runSuite(file: string): Promise<SuiteReport> {
  const text = await readFile(path.resolve(SUITE_DIR, file), 'utf8');
  const cases: CaseOutcome[] = [];
  for (const doc of parseAllDocuments(text)) {
    const section = doc.toJS() as SuiteSection | null;
    if (!section?.tests) continue;
    for (const [name, c] of Object.entries(section.tests)) cases.push(await runCase(section, name, c));
  }
  return { file, total: cases.length, passed: cases.filter((c) => c.passed).length, cases };
}
