// Runs the rules over one message in order: each match is logged, its actions recorded, and the first final action
// or `stop` ends the run. Pure over its inputs, so the data hook and the unit tests share it.
import type { EvalEnv } from './criteria.ts';
import type { FinalAction } from './actions.ts';
import type { CompiledRule } from './rule-set.ts';

export interface RunEffects {
  addFinding(symbol: string, score: number, detail?: string): void;
  addHeader(name: string, value: string): void;
  removeHeader(name: string): void;
  /** A copy of the message to `address`, made by the core only if the message is delivered. */
  addRecipient(address: string, reason: string): void;
  matched(rule: CompiledRule): void;
  /** A rule whose regex did not finish in time: neither applied nor taken as not matching. */
  skipped(rule: CompiledRule): void;
}

export interface RunResult { matched: string[]; subjectTags: string[]; final?: { rule: CompiledRule; action: FinalAction } }

export function runRules(rules: readonly CompiledRule[], env: EvalEnv, fx: RunEffects): RunResult {
  const out: RunResult = { matched: [], subjectTags: [] };
  for (const rule of rules) {
    const answer = rule.when(env);
    if (answer === undefined) { fx.skipped(rule); continue; }
    if (!answer) continue;
    out.matched.push(rule.name);
    fx.matched(rule);
    const a = rule.actions;
    if (a.score !== undefined) fx.addFinding(rule.symbol, a.score, rule.description ?? `rule ${rule.name}`);
    for (const name of a.removeHeaders) fx.removeHeader(name);
    for (const [name, value] of a.addHeaders) fx.addHeader(name, value);
    for (const address of a.copyTo) fx.addRecipient(address, `rule ${rule.name}`);
    if (a.tagSubject && !out.subjectTags.includes(a.tagSubject)) out.subjectTags.push(a.tagSubject);
    if (a.final) { out.final = { rule, action: a.final }; break; }
    if (a.stop) break;
  }
  return out;
}
