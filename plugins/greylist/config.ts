// Options of the greylist plugin, with their defaults.
import { ipOrCidr, s, type Infer, type Issue, type Schema } from '../../core/index.ts';
import { clientNameProblem, recipientDomainProblem, recipientProblem, senderDomainProblem } from './skip-entries.ts';

/** A list entry that `problem` judges: an entry that could never match is refused, with what to write instead. */
const entry = (problem: (e: string) => string | undefined): Schema<string> => s.checked(s.string(), (v, at, issues) => {
  const why = problem(v);
  if (why) issues.push({ path: at, message: why });
});

export const configSchema = s.object({
  delay: s.duration().default(300_000)
    .describe('How long a new triplet is deferred: a retry sooner than this gets 451 again'),
  retry_window: s.duration().default(2 * 86_400_000)
    .describe('How long after the first attempt a retry still counts; later, the triplet starts over'),
  remember: s.duration().default(35 * 86_400_000)
    .describe('How long a triplet (or client) that passed is let through without delay; each message refreshes it'),
  remember_by: s.enum(['triplet', 'client'] as const).default('triplet')
    .describe('What is remembered after a pass: the whole `triplet`, or the `client` network (all its senders and recipients)'),
  auto_allow_after: s.number({ integer: true, min: 0 }).default(5)
    .describe('Once this many triplets of one client network have passed by retrying (within `remember`), the whole network is let through without delay, as Postgrey\'s auto-whitelist does; 0: never'),
  ipv4_mask: s.number({ integer: true, min: 8, max: 32 }).default(24)
    .describe('Prefix length an IPv4 client is reduced to (the "sensitivity": 32 is one address, 24 its /24)'),
  ipv6_mask: s.number({ integer: true, min: 16, max: 128 }).default(64)
    .describe('Prefix length an IPv6 client is reduced to'),
  strip_sender_tags: s.boolean().default(true)
    .describe('Reduce the envelope sender to its stable form: SRS and BATV rewriting undone, `+tag` dropped'),
  recipient_delimiter: s.string().default('+')
    .describe('Characters that start a sender\'s address tag (`user+tag@`), each one a separator; empty turns it off'),
  skip_ips: s.array(ipOrCidr).default([])
    .describe('Client IPs and CIDRs never greylisted'),
  skip_recipients: s.array(entry(recipientProblem)).default(['postmaster@', 'abuse@'])
    .describe('Recipients never greylisted: addresses, or a local part at every domain (`postmaster@`); RFC 2142 role addresses must reach a person at once'),
  skip_recipient_domains: s.array(entry(recipientDomainProblem)).default([])
    .describe('Recipient domains for which greylisting is off (`example.org` exactly, `.example.org` its subdomains)'),
  skip_sender_domains: s.array(entry(senderDomainProblem)).default([])
    .describe('Envelope sender domains never greylisted (same matching); forgeable, so prefer `skip_spf_pass`'),
  skip_client_names: s.array(entry(clientNameProblem)).default([])
    .describe('Client host names never greylisted (`mx.example.org` exactly, `.example.org` every name under it), matched against the client\'s forward-confirmed reverse DNS name'),
  skip_spf_pass: s.boolean().default(false)
    .describe('Skip a sender when the client passed its domain\'s SPF (big providers retry from other IPs); off by default, as in Postgrey and Rspamd: a spammer\'s own domain passes its own SPF, and a pass from `+all` or a range wider than /8 (/16 for IPv6) never counts'),
  spf_pass_symbols: s.array(s.string()).default(['SPF_PASS'])
    .describe('Findings that mean "the client passed the sender domain\'s SPF" (recorded by the spf plugin at MAIL FROM)'),
  skip_trusted: s.boolean().default(true)
    .describe('Skip authenticated users and clients in `relay.networks`'),
  allowlist_symbols: s.array(s.string()).default(['RBL_ALLOW_*', 'RBL_DNSWL*'])
    .describe('Findings that put the client on a DNS allowlist (a trailing `*` matches a prefix); place greylist after the rbl plugin'),
  message: s.string().default('Greylisted, please try again in {retry_in} seconds')
    .describe('Reply text of the 451 4.7.1 deferral; `{retry_in}` is the seconds left until a retry can pass'),
  header: s.boolean().default(true)
    .describe('Add `X-Greylist: delayed N seconds by <host>` to a message that passed after its delay'),
  on_store_error: s.enum(['pass', 'tempfail'] as const).default('pass')
    .describe('State store unreachable: `pass` (log it and let the recipient through) or `tempfail` (451 4.3.0)'),
});

export type GreylistConfig = Infer<typeof configSchema>;

/** Longest duration accepted: beyond it the store's expiry arithmetic (Redis PX, epoch milliseconds) overflows. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/**
 * Combinations of durations the schema cannot see that would defer mail forever or keep entries forever:
 * a retry window no longer than the delay lets no retry pass, and a zero window or memory means "no expiry" to the store.
 * The one judge of them for both `create` (start, reload) and `check` (check-config, doctor), so the two cannot differ.
 */
export function timingProblems(cfg: Partial<Pick<GreylistConfig, 'delay' | 'retry_window' | 'remember'>>): Issue[] {
  const problems: Issue[] = [];
  for (const key of ['delay', 'retry_window', 'remember'] as const) {
    const v = cfg[key];
    if (v !== undefined && v > MAX_DURATION_MS) problems.push({ path: key, message: 'at most 36500d' });
  }
  if (cfg.remember !== undefined && cfg.remember <= 0) problems.push({ path: 'remember', message: 'must be longer than 0' });
  if (cfg.retry_window !== undefined && cfg.delay !== undefined && cfg.retry_window <= cfg.delay) {
    problems.push({ path: 'retry_window', message: 'must be longer than delay, or no retry could ever pass' });
  }
  return problems;
}
