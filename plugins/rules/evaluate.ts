// Runs the rules over one message in order: each match is logged, its actions recorded, and the first final action
// or `stop` ends the run; a discard of some recipients only drops them and goes on for the others. Pure over its
// inputs, so the data hook and the unit tests share it.
import type { EvalEnv } from './criteria.ts';
import { SINGLE_FIELDS, type FinalAction } from './actions.ts';
import type { CompiledRule } from './rule-set.ts';

export interface RunEffects {
  addFinding(symbol: string, score: number, detail?: string): void;
  /** A copy of the message to `address`, made by the core only if the message is delivered. */
  addRecipient(address: string, reason: string): void;
  matched(rule: CompiledRule): void;
  /** A rule whose regex did not finish in time: neither applied nor taken as not matching. */
  skipped(rule: CompiledRule): void;
}

/**
 * What the matched rules did to the header section, as the message should leave: the message's own fields to remove
 * (lower-case names) and the fields to add, in order. Kept here rather than asked of the core rule by rule, so that a
 * later rule's remove_header also removes what an earlier rule added, and an add_header of a field allowed once
 * replaces the one before it instead of making a second.
 */
export interface HeaderEdits { removed: string[]; added: Array<[string, string]> }

export interface RunResult {
  matched: string[];
  subjectTags: string[];
  headers: HeaderEdits;
  /**
   * `recipients`, for a discard: the recipients it drops (those still there; of a rule with a `to` criterion, those it
   * holds for); absent, every recipient.
   */
  final?: { rule: CompiledRule; action: FinalAction; recipients?: string[] };
  /**
   * Recipients a discard rule on `to` dropped while others remained, each with its rule. The rules after it judged
   * the message for the others alone, and a final action they took (`final`) is for those others.
   */
  discarded: Array<{ address: string; rule: CompiledRule }>;
  /** The matched rules with remove_attachments or a disclaimer, in match order: the message's content is edited after the run. */
  contentEdits: CompiledRule[];
  /** The matched rules with notify, in match order: their notices go once the verdict is known (notices.ts). */
  notices: RuleNotice[];
}

/** `recipients`: those the rule judged (or dropped); `discarded`: the rule's discard dropped them. */
export interface RuleNotice { rule: CompiledRule; recipients: string[]; discarded: boolean }

function removeField(edits: HeaderEdits, name: string): void {
  const lower = name.toLowerCase();
  edits.added = edits.added.filter(([n]) => n.toLowerCase() !== lower);
  if (!edits.removed.includes(lower)) edits.removed.push(lower);
}

export function runRules(rules: readonly CompiledRule[], start: EvalEnv, fx: RunEffects): RunResult {
  const out: RunResult = { matched: [], subjectTags: [], headers: { removed: [], added: [] }, discarded: [], contentEdits: [], notices: [] };
  let env = start;
  for (const rule of rules) {
    const answer = rule.when(env);
    if (answer === undefined) { fx.skipped(rule); continue; }
    if (!answer) continue;
    out.matched.push(rule.name);
    fx.matched(rule);
    const a = rule.actions;
    if (a.final?.kind === 'discard' && rule.usesTo) {
      const held = recipientsHolding(rule, env);
      const rest = env.facts.recipients.filter((r) => !held.includes(r));
      if (held.length && rest.length) {
        // A spam trap among real recipients: its copy goes nowhere, and the rest of the rules judge the message for
        // the others as if it had never been sent to the trap. Naming a trap must not skip the rules after it, and the
        // rule's other actions were for the copy dropped.
        for (const address of held) out.discarded.push({ address, rule });
        // The notice is of the trap hit: unlike the rule's other actions, it was not for the copy dropped.
        if (a.notify) out.notices.push({ rule, recipients: held, discarded: true });
        env = { ...env, facts: { ...env.facts, recipients: rest } };
        continue;
      }
    }
    if (a.score !== undefined) fx.addFinding(rule.symbol, a.score, rule.description ?? `rule ${rule.name}`);
    for (const name of a.removeHeaders) removeField(out.headers, name);
    for (const [name, value] of a.addHeaders) {
      if (SINGLE_FIELDS.has(name.toLowerCase())) removeField(out.headers, name);
      out.headers.added.push([name, value]);
    }
    for (const address of a.copyTo) fx.addRecipient(address, `rule ${rule.name}`);
    if (a.tagSubject && !out.subjectTags.includes(a.tagSubject)) out.subjectTags.push(a.tagSubject);
    if (a.removeAttachments || a.disclaimer) out.contentEdits.push(rule);
    if (a.notify) out.notices.push({ rule, recipients: env.facts.recipients, discarded: a.final?.kind === 'discard' });
    if (a.final) {
      out.final = { rule, action: a.final };
      if (a.final.kind === 'discard' && (rule.usesTo || out.discarded.length)) out.final.recipients = env.facts.recipients;
      break;
    }
    if (a.stop) break;
  }
  return out;
}

/** The recipients for which the rule holds when each is judged alone: those its `to` criterion picked out. */
function recipientsHolding(rule: CompiledRule, env: EvalEnv): string[] {
  return env.facts.recipients.filter((r) => rule.when({ ...env, facts: { ...env.facts, recipients: [r] } }) === true);
}
