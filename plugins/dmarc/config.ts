// Options of the dmarc plugin (DKIM, ARC and DMARC verification), with their defaults.
import { s, type Infer } from '../../core/index.ts';
import { scoreOverrides } from '../../core/plugin/scored-symbols.ts';
import { SYMBOLS } from './symbols.ts';
import { reportingSchema, type ReportingConfig } from './report-config.ts';

export const configSchema = s.object({
  dkim: s.boolean().default(true).describe('Verify DKIM signatures (DKIM_* findings)'),
  arc: s.boolean().default(true).describe('Verify the ARC chain (ARC_* findings)'),
  dmarc: s.boolean().default(true).describe('Evaluate the From domain\'s DMARC policy (DMARC_* findings)'),
  enforce: s.boolean().default(false)
    .describe('Apply the failing domain\'s policy: p=reject refuses with 550 5.7.1, p=quarantine quarantines; p=none (and enforce off) only scores'),
  apply_pct: s.boolean().default(true)
    .describe('Honour pct=: enforce on that share of failing messages, and apply the next milder policy to the rest (RFC 7489 6.6.4)'),
  arc_trusted_sealers: s.array(s.string()).default([])
    .describe('Domains whose passing ARC seal overrides a DMARC failure (mailing lists and forwarders we trust): DMARC_ARC_OVERRIDE instead of DMARC_FAIL_*, no enforcement'),
  partial_dkim: s.enum(['ignore', 'accept'] as const).default('ignore')
    .describe('A passing DKIM signature whose l= leaves part of the body unsigned (anyone may have appended to it): ignore = it does not make DMARC pass (as BIMI rules), accept = it does (RFC 6376 allows it)'),
  min_key_bits: s.number({ integer: true, min: 512, max: 8192 }).default(1024)
    .describe('Shortest RSA key accepted for DKIM and ARC; shorter ones give dkim=policy'),
  authserv_id: s.string().optionalValue()
    .describe('Authentication-Results authserv-id; the gateway hostname when unset'),
  header: s.boolean().default(true).describe('Add one Authentication-Results header with the spf, dkim, dmarc and arc results'),
  strip_forged: s.boolean().default(true)
    .describe('Remove incoming Authentication-Results headers when one of them claims our authserv-id (RFC 8601 5)'),
  skip_trusted: s.boolean().default(true).describe('Skip authenticated clients and relay.networks'),
  scores: scoreOverrides(SYMBOLS).default({}).describe('Scores by symbol, overriding the defaults listed under Symbols; a key that is not one of them is refused'),
  // The defaults of each key apply: `{}` is reporting off.
  reporting: reportingSchema.default({} as ReportingConfig)
    .describe('DMARC aggregate reports (rua=) to the domains that ask for them; off unless `enabled` (see README, Aggregate reports)'),
});

export type DmarcConfig = Infer<typeof configSchema>;
