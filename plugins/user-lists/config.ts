// Options of the user-lists plugin (each recipient's own allow and block lists of senders), with their defaults.
import { s, type Infer } from '../../core/index.ts';

export const configSchema = s.object({
  allow_score: s.number({ max: 0 }).default(-20)
    .describe('Score of USER_ALLOWLIST, recorded when every recipient allows the sender: at most 0; -20 offsets the default reject (15) and add_header (5) thresholds together'),
  allow_needs_auth: s.boolean().default(true)
    .describe('An allow entry counts only for an authenticated address: SPF pass for the envelope sender\'s domain, DMARC pass or an aligned DKIM pass for the From domain (needs the spf and dmarc plugins)'),
  allow_unless_symbols: s.array(s.string()).default(['CLAM_VIRUS'])
    .describe('Findings recorded earlier in the chain that stop an allow entry from counting (a trailing `*` matches a prefix): a tagged virus stays as scored'),
  recipient_delimiter: s.string().default('+')
    .describe('Characters that start a recipient\'s address tag (`bob+news@`): such a recipient uses the lists of the untagged address; empty turns it off'),
  on_store_error: s.enum(['skip', 'tempfail'] as const).default('skip')
    .describe('State store failing: `skip` (no list applies, a warning is logged, USER_LISTS_UNAVAILABLE recorded) or `tempfail` (451 4.3.0)'),
});

export type UserListsConfig = Infer<typeof configSchema>;
