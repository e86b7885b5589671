// The matched rules' edits of the message's content, applied once after the rules ran: disclaimers, then
// remove_attachments (so that the removal's notice, a text part, is not taken for the body a disclaimer goes into).
// A removal is checked on the result, parsed again as every check parses it: an attachment the rule matched that is
// still there (a MIME structure the part reader and mailparser read differently, a part that could not be edited)
// holds the message in the quarantine rather than deliver what the rule was to take out.
import { Readable } from 'node:stream';
import { finalActionOutcome, type Attachment, type HookContext, type Outcome, type ParsedMessage } from '../../core/index.ts';
import { parseMime } from '../../core/message/mime-parse.ts';
import { addDisclaimer } from './disclaimer.ts';
import { removeAttachments } from './remove-attachments.ts';
import { attachmentFacts } from './facts.ts';
import type { TypeGuess } from './leaf-facts.ts';
import type { CompiledRule } from './rule-set.ts';

/** mailparser's guess of a type from a file name, for parts declared application/octet-stream, as the view has it. */
function guessFrom(attachments: readonly Attachment[]): TypeGuess {
  const guesses = new Map<string, string>();
  for (const a of attachments) {
    if (a.within || a.declaredType !== 'application/octet-stream' || a.contentType === a.declaredType) continue;
    for (const n of a.names) guesses.set(n, a.contentType.toLowerCase());
  }
  return (names) => names.map((n) => guesses.get(n)).find((g) => g !== undefined);
}

/** An attachment of the view one of `rules` would still remove: its name, or undefined when none is left. */
function stillThere(attachments: readonly Attachment[], rules: readonly CompiledRule[]): string | undefined {
  for (const a of attachments) {
    const facts = attachmentFacts(a);
    if (rules.some((r) => r.actions.removeAttachments?.all || facts.some((f) => r.attachmentTests.some((t) => t(f))))) {
      return [...(a.within ?? []), a.filename ?? a.declaredType].join(' / ');
    }
  }
  return undefined;
}

/** Why the removal is not safe to deliver, or undefined when the result holds nothing the rules remove. */
async function removalProblem(original: ParsedMessage, result: Buffer | undefined, rules: readonly CompiledRule[]): Promise<string | undefined> {
  const view = result ? await parseMime(Readable.from([result]), async () => result, result.length) : original;
  if (view.structure.incomplete) return `its MIME structure could not be read in full (${view.structure.incomplete})`;
  if (view.malformed) return 'its MIME structure is malformed';
  const left = stillThere(view.attachments, rules);
  return left === undefined ? undefined : `${left} could not be taken out of its MIME part`;
}

/**
 * Applies the edits of `rules` (the matched rules with a disclaimer or remove_attachments, in match order) to the
 * message; a quarantine outcome when a removal cannot be done safely (the message is then left as it came).
 */
export async function applyContentEdits(ctx: HookContext, rules: readonly CompiledRule[]): Promise<Outcome | undefined> {
  const msg = ctx.message!;
  const raw = await msg.raw();
  let text = raw.toString('latin1');
  let changed = false;
  for (const rule of rules) {
    const d = rule.actions.disclaimer;
    if (!d) continue;
    const r = await addDisclaimer(text, msg.headers.first('Content-Type') ?? '', d);
    if (!r.added) { ctx.log.info('rules: disclaimer not added', { rule: rule.name, reason: r.why }); continue; }
    text = r.text;
    changed = true;
    ctx.log.info('rules: disclaimer added', { rule: rule.name, parts: r.parts, position: d.position, ...(r.toUtf8.length ? { converted_to_utf8: r.toUtf8 } : {}) });
  }
  const removers = rules.filter((r) => r.actions.removeAttachments);
  if (removers.length) {
    const parsed = await msg.parsed();
    const r = removeAttachments(text, removers, guessFrom(parsed.attachments));
    const result = r.removed.length ? Buffer.from(r.text, 'latin1') : undefined;
    const problem = await removalProblem(parsed, result, removers);
    if (problem) {
      const rule = removers.find((x) => r.removed.some((f) => f.rule === x.name)) ?? removers[0];
      ctx.log.warn('rules: attachments could not be removed safely, message quarantined', { rule: rule.name, reason: problem });
      return finalActionOutcome(ctx, { kind: 'quarantine', text: `attachments could not be removed safely: ${problem}` }, `rule ${rule.name}`);
    }
    if (r.removed.length) {
      text = r.text;
      changed = true;
      for (const x of removers) {
        const mine = r.removed.filter((f) => f.rule === x.name);
        if (mine.length) ctx.log.info('rules: attachments removed', { rule: x.name, removed: mine.map((f) => (f.inside ? `${f.name} (held ${f.inside})` : f.name)) });
      }
    }
  }
  if (changed) await ctx.rewriteMessage(Buffer.from(text, 'latin1'));
  return undefined;
}
