// Whether an address's domain was authenticated in this transaction, read from the findings of the spf and dmarc
// plugins (their detail formats: plugins/spf/README.md and plugins/dmarc/index.ts), since plugins see each other only
// through ctx.findings.
import { getDomain } from 'tldts';
import type { Finding } from '../../core/index.ts';
import { asciiDomain } from '../../core/text/ascii.ts';
import { isBroadSpfPass } from '../spf/broad.ts';

const SPF_DETAIL = /^pass identity=mailfrom domain=(\S+)/;
const DMARC_FROM = /(?:^| )from=(\S+)/;
const DKIM_DOMAIN = /(?:^|, )d=(\S+) s=/g;

/** A domain in one form for comparing: lower case, no final dot, A-labels (a finding may name it in Unicode). */
const bare = (d: string) => {
  const plain = d.trim().toLowerCase().replace(/\.$/, '');
  return asciiDomain(plain) || plain;
};
const orgDomain = (d: string) => getDomain(d, { allowPrivateDomains: true }) ?? d;

/** What the spf and dmarc plugins recorded, if they ran: `undefined` means no finding of theirs at all. */
export interface AuthFacts {
  /** The MAIL FROM domain SPF passed, or '' when it did not pass. */
  spfPass?: string;
  /** The From domain's DMARC result (`pass`, `none`, `fail`, …) and that domain. */
  dmarc?: { result: string; domain: string };
  /** Domains of DKIM signatures that verified. */
  dkimPass: string[];
  spfRan: boolean;
  dmarcRan: boolean;
}

export function authFacts(findings: readonly Finding[]): AuthFacts {
  const facts: AuthFacts = { dkimPass: [], spfRan: false, dmarcRan: false };
  for (const f of findings) {
    if (f.plugin === 'spf' && !f.symbol.startsWith('SPF_HELO_') && !f.symbol.startsWith('SPF_GUESS_')) {
      facts.spfRan = true;
      // A pass any host would get (`+all`, or a range of a sizeable share of the Internet) proves nothing of the sender.
      const m = f.symbol === 'SPF_PASS' && !isBroadSpfPass(f) ? SPF_DETAIL.exec(f.detail ?? '') : null;
      facts.spfPass = m ? bare(m[1]) : (facts.spfPass ?? '');
    }
    if (f.plugin !== 'dmarc') continue;
    facts.dmarcRan = true;
    if (f.symbol === 'DKIM_PASS') for (const m of (f.detail ?? '').matchAll(DKIM_DOMAIN)) facts.dkimPass.push(bare(m[1]));
    // A failure a trusted ARC sealer vouched for is recorded as DMARC_ARC_OVERRIDE alone: a result, and no pass.
    if (f.symbol.startsWith('DMARC_')) {
      const from = DMARC_FROM.exec(f.detail ?? '');
      facts.dmarc = { result: f.symbol.slice('DMARC_'.length).toLowerCase(), domain: from ? bare(from[1]) : '' };
    }
  }
  return facts;
}

/** Why the envelope sender's domain counts as authenticated (`SPF pass`), or undefined. */
export function envelopeAuthenticated(facts: AuthFacts, domain: string): string | undefined {
  return facts.spfPass && facts.spfPass === bare(domain) ? 'SPF pass' : undefined;
}

/**
 * Why the From domain counts as authenticated, or undefined: DMARC passed for it, or, when the domain publishes no
 * DMARC record (or the dmarc plugin's `dmarc: false`), a DKIM signature of the same organisational domain verified
 * (relaxed alignment, RFC 7489 3.1.1). A DMARC failure or error is never outweighed by a signature.
 */
export function fromAuthenticated(facts: AuthFacts, domain: string): string | undefined {
  const d = bare(domain);
  if (facts.dmarc && facts.dmarc.domain === d && facts.dmarc.result === 'pass') return 'DMARC pass';
  if (facts.dmarc && !(facts.dmarc.domain === d && facts.dmarc.result === 'none')) return undefined;
  const org = orgDomain(d);
  const signer = facts.dkimPass.find((s) => s === d || orgDomain(s) === org);
  return signer ? `DKIM pass d=${signer}` : undefined;
}
