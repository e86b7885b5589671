// Reads the spf plugin's result back from its finding (the detail format is documented in plugins/spf/README.md).
import type { Finding } from '../../core/index.ts';

export interface SpfFact {
  result: string;
  identity: 'mailfrom' | 'helo';
  domain: string;
}

const DETAIL_RE = /^(pass|fail|softfail|neutral|none|permerror|temperror) identity=(mailfrom|helo) domain=(\S+)/;

/** The SPF result of an identity, or undefined when the spf plugin did not check it. */
export function spfFromFindings(findings: readonly Finding[], identity: 'mailfrom' | 'helo' = 'mailfrom'): SpfFact | undefined {
  for (const f of findings) {
    if (f.plugin !== 'spf' || !f.detail || f.symbol.startsWith('SPF_GUESS_')) continue;
    const m = DETAIL_RE.exec(f.detail);
    if (m && m[2] === identity) return { result: m[1], identity, domain: m[3] };
  }
  return undefined;
}
