// The whole rule list compiled: each rule's criteria tree and actions, the regexes they need, and whether any rule
// reads the parsed message (body, attachments).
import type { Issue } from '../../core/index.ts';
import { compileCriterion, type AttachmentTest, type CompileState, type Criterion, type FindingRead } from './criteria.ts';
import { compileActions, type RuleActions } from './actions.ts';
import type { RulesConfig } from './config.ts';
import type { ListKind } from './lists.ts';

export interface CompiledRule {
  name: string;
  /** RULE_<NAME>: the symbol of the rule's score finding. */
  symbol: string;
  description?: string;
  when: Criterion;
  actions: RuleActions;
  /** The criteria name envelope recipients (`to`): a discard then drops only those the rule holds for. */
  usesTo: boolean;
  /** Its key path under the plugin's entry (`rules[3] (name "virus")`), for the warnings about it. */
  at: string;
  /** Its `when` as written, for the load-time checks of the rule order (whitelist-order.ts). */
  written: unknown;
  /** Its `attachment` criteria (not under a `not`) as tests of one attachment: what its remove_attachments removes. */
  attachmentTests: AttachmentTest[];
}

export interface RuleSet {
  rules: CompiledRule[];
  regexes: CompileState['regexes'];
  needsParsed: boolean;
  /** The enabled rules' criteria on findings, each with its rule's place in `rules`. */
  reads: Array<FindingRead & { rule: number }>;
  /** The lists the criteria name, by lower-case name, and the kind each is read as (lists.ts). */
  listKinds: ReadonlyMap<string, ListKind>;
}

export const ruleSymbol = (name: string) => `RULE_${name.toUpperCase().replace(/-/g, '_')}`;

/** Compiles the enabled rules; problems go to `issues` named by key path under `path` (`plugins[3]`). */
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const RULE_NAME_TEXT = 'a rule name of letters, digits, _ and - (up to 64)';

export function compileRuleSet(cfg: Pick<RulesConfig, 'rules' | 'lists'> & { recipient_delimiter?: string }, path: string, issues: Issue[]): RuleSet {
  const at = (k: string) => (path ? `${path}.${k}` : k);
  const st: CompileState = {
    issues, listNames: new Set(Object.keys(cfg.lists ?? {}).map((n) => n.toLowerCase())), listKinds: new Map(), regexes: [], needsParsed: false,
    delimiter: cfg.recipient_delimiter ?? '+', usesTo: false, reads: [], attachmentTests: [], negated: 0,
  };
  const reads: RuleSet['reads'] = [];
  const rules: CompiledRule[] = [];
  const seen = new Map<string, number>();
  for (const [i, rule] of (cfg.rules ?? []).entries()) {
    if (!rule || typeof rule.name !== 'string') continue;
    // With its name: among 40 rules, `rules[18]` alone sends the admin counting.
    const rp = at(`rules[${i}] (name ${JSON.stringify(rule.name.slice(0, 64))})`);
    if (!RULE_NAME.test(rule.name)) issues.push({ path: `${rp}.name`, message: `expected ${RULE_NAME_TEXT}, got ${JSON.stringify(rule.name.slice(0, 80))}` });
    const symbol = ruleSymbol(rule.name);
    const before = seen.get(symbol);
    if (before !== undefined) issues.push({ path: `${rp}.name`, message: `names the same rule (${symbol}) as rules[${before}]` });
    seen.set(symbol, i);
    // A disabled rule is still checked: enabling it later must not be the moment its typo is found.
    const enabled = rule.enabled !== false;
    st.usesTo = false;
    st.reads = [];
    st.attachmentTests = [];
    const target = enabled ? st : { ...st, regexes: [], needsParsed: false, reads: [] };
    const when: Criterion = rule.when === undefined || rule.when === null ? () => true : compileCriterion(target, rule.when, `${rp}.when`);
    const actions = compileActions(rule.actions, `${rp}.actions`, issues);
    // Which attachments to remove is what the rule's own attachment criteria name: without one, only `all` says.
    if (actions.removeAttachments && !actions.removeAttachments.all && target.attachmentTests.length === 0) {
      issues.push({ path: `${rp}.actions`, message: 'remove_attachments removes the attachments the rule\'s attachment criteria match, and this rule has none (outside a `not`): add an attachment criterion, or write remove_attachments: all' });
    }
    if (!enabled) continue;
    st.needsParsed ||= target.needsParsed;
    reads.push(...st.reads.map((r) => ({ ...r, rule: rules.length })));
    rules.push({ name: rule.name, symbol, description: rule.description, when, actions, usesTo: st.usesTo, at: rp, written: rule.when, attachmentTests: target.attachmentTests });
  }
  return { rules, regexes: st.regexes, needsParsed: st.needsParsed, reads, listKinds: new Map([...st.listKinds].map(([name, use]) => [name, use.kind])) };
}
