// The built-in check beside the admin's rules: a message whose MIME structure the parse did not walk to its end, or
// that is nested deeper than max_mime_depth, hides parts from every content check (clamd answers OK past its own
// MaxRecursion, the attachment rules see no names). amavisd-new calls such mail undecipherable ($MAXLEVELS) and
// blocks it, as PMG's clamd does with its limits exceeded; this does the same unless the admin says otherwise.
import { finalActionOutcome, outcome, type HookContext, type Outcome } from '../../core/index.ts';
import type { Facts } from './facts.ts';
import type { RulesConfig } from './config.ts';

export const MIME_INCOMPLETE = 'MIME_INCOMPLETE';
export const MIME_TOO_DEEP = 'MIME_TOO_DEEP';
export const MIME_AMBIGUOUS = 'MIME_AMBIGUOUS';

export interface MimeProblem { symbol: string; why: string; reply: string }

/** What is wrong with the message's structure, if anything; pure over the facts. */
export function mimeProblem(facts: Pick<Facts, 'mimeDepth' | 'mimeIncomplete' | 'mimeAmbiguous'>, maxDepth: number): MimeProblem | undefined {
  if (facts.mimeIncomplete !== undefined) {
    return {
      symbol: MIME_INCOMPLETE, why: `MIME structure not read to its end: ${facts.mimeIncomplete}`,
      reply: `Message refused: its MIME structure could not be checked in full (${facts.mimeIncomplete})`,
    };
  }
  // The parts checked may not be the parts the recipient's mail program shows: as unknown as parts not read.
  if (facts.mimeAmbiguous !== undefined) {
    return {
      symbol: MIME_AMBIGUOUS, why: `MIME structure readable two ways: ${facts.mimeAmbiguous}`,
      reply: `Message refused: its MIME structure can be read more than one way (${facts.mimeAmbiguous})`,
    };
  }
  if (facts.mimeDepth > maxDepth) {
    return {
      symbol: MIME_TOO_DEEP, why: `MIME parts nested ${facts.mimeDepth} levels deep, over max_mime_depth ${maxDepth}`,
      reply: `Message refused: its MIME parts are nested ${facts.mimeDepth} levels deep, more than the ${maxDepth} this gateway checks`,
    };
  }
  return undefined;
}

/**
 * Applies on_mime_incomplete to the message: a finding (and a log line saying why) for every action but `off`, and
 * the refusal or hold for `reject` and `quarantine`. Undefined lets the rules run.
 */
export function checkMimeStructure(cfg: RulesConfig, facts: Facts, ctx: HookContext): Outcome | undefined {
  if (cfg.on_mime_incomplete === 'off') return undefined;
  const problem = mimeProblem(facts, cfg.max_mime_depth);
  if (!problem) return undefined;
  ctx.log.warn('rules: MIME structure not checked in full', {
    symbol: problem.symbol, reason: problem.why, mime_depth: facts.mimeDepth, max_mime_depth: cfg.max_mime_depth, action: cfg.on_mime_incomplete,
  });
  ctx.addFinding(problem.symbol, cfg.mime_incomplete_score, problem.why);
  if (cfg.on_mime_incomplete === 'reject') return outcome.reject(problem.reply, { code: 554, enhanced: '5.7.1' });
  if (cfg.on_mime_incomplete === 'quarantine') return finalActionOutcome(ctx, { kind: 'quarantine', text: problem.why }, 'rules');
  return undefined;
}
