// Options of the rules plugin. Each rule's criteria and actions are checked here, so that `moat check-config` and a
// reload name a bad regex, an unknown criterion or a rule without actions by its key path.
import { s, type Infer, type Issue } from '../../core/index.ts';
import { compileRuleSet, RULE_NAME_TEXT } from './rule-set.ts';

const ruleSchema = s.object({
  // Its pattern (RULE_NAME) is checked with the criteria in compileRuleSet: refused here, the rule's other mistakes went
  // unreported until the name was mended.
  name: s.string({ patternName: RULE_NAME_TEXT })
    .describe('The rule\'s name: in the log, and its score finding is RULE_<NAME> (upper case, - as _)'),
  description: s.string().optionalValue().describe('A note for admins; the detail of the rule\'s finding'),
  enabled: s.boolean().default(true).describe('false keeps the rule in the file without running it'),
  when: s.any().optionalValue().describe('Criteria (see the README); absent = every message'),
  actions: s.array(s.any()).describe('score, add_header, remove_header, tag_subject, copy_to, remove_attachments, disclaimer, notify, accept, quarantine, reject, tempfail, discard, stop'),
});

const shape = s.object({
  rules: s.array(ruleSchema).default([]).describe('The rules, tried in order'),
  lists: s.record(s.string({ minLength: 1 })).default({})
    .describe('Named list files, one entry per line (relative to the config file): addresses and domains for from and to, IP addresses and networks for client_ip'),
  list_check: s.duration({ max: 3_600_000 }).default(5_000)
    .describe('How often the list files are looked at for a change: a changed file is read again and used from then on (a file that cannot be read, or an IP list with a bad line, is refused and the list stays as it was); 0: only at start and reload'),
  recipient_delimiter: s.string().default('+')
    .describe('Characters that start an address tag (`trap+spam@`): from, to and list entries are matched on the untagged address (a regex sees it as sent); empty turns it off'),
  time_zone: s.string().optionalValue().describe('IANA time zone of the time and weekday criteria (default: the gateway\'s own)'),
  regex_timeout: s.duration({ min: 1, max: 60_000 }).default(500).describe('Running time the regexes of one message may take together in their thread (waiting for a free thread is bounded by max_wait)'),
  max_wait: s.duration({ min: 10, max: 60_000 }).default(5_000)
    .describe('How long a message waits for a free regex thread before its regex rules count as not finished (RULES_TIMEOUT). Keep the entry\'s `timeout` (30s) above max_wait + regex_timeout'),
  on_timeout: s.enum(['tempfail', 'skip'] as const).default('tempfail')
    .describe('A rule whose regexes did not finish in time: `tempfail` the message (451 4.3.0; the sender retries) or `skip` the rule (RULES_TIMEOUT, score 0)'),
  max_header_length: s.number({ integer: true, min: 64 }).default(16_384).describe('Characters of each header value the criteria see'),
  max_body_length: s.number({ integer: true, min: 1024 }).default(1_048_576).describe('Characters of the body text the body criterion sees'),
  max_mime_depth: s.number({ integer: true, min: 1, max: 1000 }).default(16)
    .describe('MIME nesting (multiparts and attached messages around the deepest part) past which a message counts as not checkable, as on_mime_incomplete says; clamd stops at 17 levels by default'),
  on_mime_incomplete: s.enum(['reject', 'quarantine', 'score', 'off'] as const).default('reject')
    .describe('A message whose MIME structure was not walked to its end, or is nested deeper than max_mime_depth: `reject` (554 5.7.1), `quarantine`, `score` (mime_incomplete_score, the verdict decides) or `off`'),
  mime_incomplete_score: s.number().default(10).describe('Score of the MIME_INCOMPLETE or MIME_TOO_DEEP finding'),
  notify_limit: s.number({ integer: true, min: 1 }).default(10)
    .describe('Notices (the notify action) one rule may send in notify_window; those past it are counted and logged once, at the window\'s end'),
  notify_window: s.duration({ min: 1_000, max: 86_400_000 }).default(60_000)
    .describe('The window of notify_limit, from a rule\'s first notice in it'),
});

export const configSchema = s.checked(shape, (cfg, path, issues: Issue[]) => {
  compileRuleSet(cfg, path, issues);
  checkListNames(cfg.lists, path ? `${path}.lists` : 'lists', issues);
  // Each look stats every list file: a few milliseconds apart, that is a busy loop on the disk.
  if (cfg.list_check > 0 && cfg.list_check < 100) issues.push({ path: path ? `${path}.list_check` : 'list_check', message: 'must be 0 (look only at start and reload) or at least 100ms' });
  if (cfg.time_zone !== undefined) {
    try { new Intl.DateTimeFormat('en-US', { timeZone: cfg.time_zone }); } catch {
      issues.push({ path: path ? `${path}.time_zone` : 'time_zone', message: `is not a time zone: ${cfg.time_zone}` });
    }
  }
});

/** Criteria name lists without regard to case: two names that differ only in case would be one list. */
function checkListNames(lists: Record<string, string> | undefined, at: string, issues: Issue[]): void {
  const seen = new Map<string, string>();
  for (const name of Object.keys(lists ?? {})) {
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) issues.push({ path: `${at}.${name}`, message: `is the name of lists.${first}, as criteria compare list names (case ignored): give one another name` });
    else seen.set(name.toLowerCase(), name);
  }
}

export type RulesConfig = Infer<typeof shape>;
