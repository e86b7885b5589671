// The symbols of the dmarc plugin, their meaning and default scores.
import type { ScoredSymbols } from '../../core/index.ts';

export const SYMBOLS: ScoredSymbols = {
  DKIM_PASS: { score: -1, description: 'A DKIM signature verifies' },
  DKIM_PASS_PARTIAL: { score: 0, description: 'A DKIM signature verifies, but its l= leaves part of the body unsigned: text anyone may have added' },
  DKIM_FAIL: { score: 2, description: 'A DKIM signature does not verify (bad signature, or body changed after signing), and none verifies' },
  DKIM_FAIL_OTHER_PASS: { score: 0, description: 'A DKIM signature does not verify, but another one on the message does (a mailing list\'s own signature beside the author\'s it broke): recorded instead of DKIM_FAIL' },
  DKIM_NEUTRAL: { score: 1, description: 'A DKIM signature cannot be verified (no key, expired, malformed)' },
  DKIM_POLICY: { score: 1, description: 'A DKIM signature uses a key shorter than min_key_bits' },
  DKIM_TEMPERROR: { score: 0, description: 'DNS failed while fetching a DKIM key' },
  DKIM_PERMERROR: { score: 1, description: 'A DKIM signature is unusable, or its key is revoked (empty p=)' },
  DKIM_NONE: { score: 0, description: 'The message has no DKIM signature' },
  ARC_PASS: { score: 0, description: 'The ARC chain verifies' },
  ARC_FAIL: { score: 1, description: 'The ARC chain is broken' },
  ARC_NONE: { score: 0, description: 'The message has no ARC chain' },
  DMARC_PASS: { score: -1, description: 'SPF or DKIM passed for a domain aligned with From' },
  DMARC_FAIL_REJECT: { score: 6, description: 'DMARC fails and the domain asks for reject' },
  DMARC_FAIL_QUARANTINE: { score: 4, description: 'DMARC fails and the domain asks for quarantine' },
  DMARC_FAIL_NONE: { score: 1, description: 'DMARC fails and the domain only monitors (p=none)' },
  DMARC_NONE: { score: 0, description: 'The From domain publishes no DMARC record, or one with an invalid p= or sp= and no valid rua= (not evaluated)' },
  DMARC_TEMPERROR: { score: 0, description: 'DNS failed while fetching the DMARC record, or DMARC fails only because the lookup of an aligned DKIM key or SPF record failed' },
  DMARC_PERMERROR: { score: 1, description: 'No From domain to evaluate, or several From domains none of which fails' },
  DMARC_ARC_OVERRIDE: { score: 0, description: 'DMARC failed but a trusted ARC sealer vouches for the message: recorded instead of DMARC_FAIL_*, the policy is not enforced' },
};
