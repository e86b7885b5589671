// The matched rules' edits of the message's content, applied once after the rules ran: disclaimers, then
// remove_attachments (so that the removal's notice, a text part, is not taken for the body a disclaimer goes into).
// A removal is checked on the result, parsed again as every check parses it: an attachment the rule matched that is
// still there (a MIME structure the part reader and mailparser read differently, a part that could not be edited),
// or parts other than the kept ones and the notice, hold the message in the quarantine rather than deliver what the
// rule was to take out or what no check saw.
// A disclaimer is checked the same way: the edited message must read as the same parts. When it does not, the edit
// is dropped and the message goes as it came: every check saw that one, so it is safe to deliver, and the fault is
// the edit's, not something the sender can be held for (a quarantine would let any sender hold mail up that way).
import { Readable } from 'node:stream';
import { finalActionOutcome, type Attachment, type HookContext, type Outcome, type ParsedMessage } from '../../core/index.ts';
import { parseMime } from '../../core/message/mime-parse.ts';
import { leafParts } from '../../core/message/mime-leaves.ts';
import { addDisclaimer } from './disclaimer.ts';
import { leafShape } from './part-fields.ts';
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

/** The edited message as every check reads it. */
const viewOf = (text: string) => { const b = Buffer.from(text, 'latin1'); return parseMime(Readable.from([b]), async () => b, b.length); };

/** An attachment of a view as the structure checks compare it: where it is, its declared type and its names. */
const attachmentShape = (a: Attachment) => JSON.stringify([a.within ?? [], a.declaredType, a.filename ?? null, a.names]);

/** Where the part reader's list of parts and the expected one part ways, or undefined when they are the same. */
function partsDiffer(text: string, expected: readonly string[]): string | undefined {
  const got = leafParts(text).map(leafShape);
  const at = got.findIndex((g, i) => g !== expected[i]);
  if (at < 0 && got.length === expected.length) return undefined;
  const i = at < 0 ? Math.min(got.length, expected.length) : at;
  return `it reads as ${got.length} parts, not ${expected.length} (part ${i + 1} is ${got[i] ?? 'missing'}, not ${expected[i] ?? 'expected'})`;
}

/** An attachment of `view` that `original` did not have, or undefined. */
function newAttachment(original: ParsedMessage, view: ParsedMessage): string | undefined {
  const had = new Map<string, number>();
  for (const a of original.attachments) had.set(attachmentShape(a), (had.get(attachmentShape(a)) ?? 0) + 1);
  for (const a of view.attachments) {
    const n = had.get(attachmentShape(a)) ?? 0;
    if (n === 0) return [...(a.within ?? []), a.filename ?? a.declaredType].join(' / ');
    had.set(attachmentShape(a), n - 1);
  }
  return undefined;
}

/** A view whose structure reads worse than the original's: why, or undefined. */
function structureWorse(original: ParsedMessage, view: ParsedMessage): string | undefined {
  if (view.structure.incomplete && !original.structure.incomplete) return `its MIME structure could not be read in full (${view.structure.incomplete})`;
  if (view.malformed && !original.malformed) return 'its MIME structure is malformed';
  return undefined;
}

/** Why a disclaimer's result is not the same message with a longer text, or undefined. */
async function disclaimerProblem(original: ParsedMessage, expected: readonly string[], after: string): Promise<string | undefined> {
  const differ = partsDiffer(after, expected);
  if (differ) return differ;
  const view = await viewOf(after);
  const worse = structureWorse(original, view);
  if (worse) return worse;
  const added = newAttachment(original, view);
  if (added !== undefined || view.attachments.length !== original.attachments.length) return `its attachments read differently${added ? ` (${added})` : ''}`;
  return undefined;
}

/** Why the removal is not safe to deliver, or undefined when the result is the kept parts and the notice. */
async function removalProblem(original: ParsedMessage, result: string | undefined, expected: readonly string[], rules: readonly CompiledRule[]): Promise<string | undefined> {
  const view = result === undefined ? original : await viewOf(result);
  if (view.structure.incomplete) return `its MIME structure could not be read in full (${view.structure.incomplete})`;
  if (view.malformed) return 'its MIME structure is malformed';
  const left = stillThere(view.attachments, rules);
  if (left !== undefined) return `${left} could not be taken out of its MIME part`;
  if (result === undefined) return undefined;
  const differ = partsDiffer(result, expected);
  if (differ) return `the result is not the kept parts and the notice: ${differ}`;
  const added = newAttachment(original, view);
  return added === undefined ? undefined : `the result holds an attachment the message did not: ${added}`;
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
    const problem = await disclaimerProblem(await msg.parsed(), r.expected, r.text);
    if (problem) {
      ctx.log.warn('rules: disclaimer dropped, the edited message would read as other parts', { rule: rule.name, reason: problem });
      continue;
    }
    text = r.text;
    changed = true;
    ctx.log.info('rules: disclaimer added', { rule: rule.name, parts: r.parts, position: d.position, ...(r.toUtf8.length ? { converted_to_utf8: r.toUtf8 } : {}) });
  }
  const removers = rules.filter((r) => r.actions.removeAttachments);
  if (removers.length) {
    const parsed = await msg.parsed();
    const r = removeAttachments(text, removers, guessFrom(parsed.attachments));
    const problem = await removalProblem(parsed, r.removed.length ? r.text : undefined, r.expected, removers);
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
