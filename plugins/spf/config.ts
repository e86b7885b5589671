// Options of the spf plugin, with their defaults.
import { ipOrCidr, s, type Infer, type Issue } from '../../core/index.ts';
import { parseRecord } from './lib/record.ts';
import { scoreOverrides } from '../../core/plugin/scored-symbols.ts';
import { SYMBOLS } from './scores.ts';

export const configSchema = s.object({
  check_helo: s.boolean().default(true)
    .describe('Check the HELO/EHLO name as its own SPF identity (SPF_HELO_* findings)'),
  check_mailfrom: s.boolean().default(true)
    .describe('Check the MAIL FROM identity (SPF_* findings); a null sender is checked as postmaster@<HELO name>'),
  reject_fail: s.boolean().default(false)
    .describe('Refuse MAIL FROM with 550 5.7.23 when its SPF result is fail'),
  reject_helo_fail: s.boolean().default(false)
    .describe('Refuse MAIL FROM with 550 5.7.23 when the HELO identity\'s SPF result is fail'),
  on_temperror: s.enum(['accept', 'tempfail'] as const).default('accept')
    .describe('A DNS failure while checking MAIL FROM: `accept` records SPF_TEMPERROR and goes on; `tempfail` answers 451 4.4.3 so the client retries'),
  local_policy: s.string().optionalValue()
    .describe('Mechanisms tried when a sender\'s policy ends in fail, softfail or neutral, e.g. `ip4:198.51.100.0/24 include:trusted-forwarder.example` (a local allowlist); a match gives its qualifier\'s result'),
  best_guess: s.string().optionalValue()
    .describe('Record evaluated for domains that publish no SPF, e.g. `v=spf1 a/24 mx/24 ptr ?all`; the result stays none and the guess is reported as SPF_GUESS_*'),
  local_ips: s.array(ipOrCidr).default([])
    .describe('Client addresses or CIDRs that are never checked (our own hosts), besides authenticated and relay.networks clients'),
  max_lookups: s.number({ integer: true, min: 1, max: 50 }).default(10)
    .describe('DNS-querying terms allowed per check before permerror (RFC 7208 says 10)'),
  max_void_lookups: s.number({ integer: true, min: 0, max: 50 }).default(2)
    .describe('Lookups answering NXDOMAIN or no data allowed per check before permerror (RFC 7208 says 2)'),
  header: s.boolean().default(true)
    .describe('Add a Received-SPF header with the MAIL FROM result'),
  scores: scoreOverrides(SYMBOLS).default({})
    .describe('Scores by symbol, overriding the defaults listed under Symbols (e.g. `{ SPF_FAIL: 6 }`); a key that is not one of them is refused'),
});

export type SpfConfig = Infer<typeof configSchema>;

/** The policy text as a record: `v=spf1` is optional in the config, as the evaluation adds it (lib/check-host.ts). */
function asRecord(text: string): string {
  return /^v=spf1( |$)/i.test(text) ? text : `v=spf1 ${text}`;
}

/**
 * A local or best-guess policy that does not parse, which would otherwise fail unseen on every message: the one judge
 * of it for both `create` (start, reload) and `check` (check-config, doctor), so the two cannot differ.
 */
export function policyProblems(cfg: Partial<Pick<SpfConfig, 'local_policy' | 'best_guess'>>): Issue[] {
  const problems: Issue[] = [];
  for (const key of ['local_policy', 'best_guess'] as const) {
    const text = cfg[key];
    if (text === undefined) continue;
    try { parseRecord(asRecord(text)); } catch (err) { problems.push({ path: key, message: (err as Error).message }); }
  }
  return problems;
}

/**
 * The symbols these options can record, all at MAIL FROM: there for a data hook (the rules) wherever spf stands in
 * the chain. SPF_GUESS_* needs a best_guess policy.
 */
export function spfSymbols(cfg: SpfConfig): { symbols: string[]; early: string[] } {
  const early = Object.keys(SYMBOLS).filter((k) => (k.startsWith('SPF_HELO_') ? cfg.check_helo
    : k.startsWith('SPF_GUESS_') ? cfg.check_mailfrom && cfg.best_guess !== undefined : cfg.check_mailfrom));
  return { symbols: [], early };
}
