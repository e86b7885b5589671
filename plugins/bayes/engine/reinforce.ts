// Second training pass: every message just learned is judged as if it had not been (its counts taken out,
// scored, put back), and those the rest of the training set would misjudge are learned again a few times.
// Plain training counts a hard message once, like an easy one, so its evidence is drowned out; this gives
// extra weight to what the dictionary cannot yet tell, much as bogofilter's train-on-error and DSPAM's TUNE
// do, but judged on held-out scores, because a message already learned always looks right to the dictionary.
import { classifyHashed } from './classify.ts';
import { LayeredCounts } from './layered-counts.ts';
import type { HashedBag } from './hashed-bag.ts';
import type { BayesFilter } from './filter.ts';
import type { Dictionary } from './dictionary.ts';

export interface ReinforceOptions {
  /** A ham scoring above this without its own counts is learned again. */
  hamAbove: number;
  /** A spam scoring below this without its own counts is learned again. */
  spamBelow: number;
  /** How many more times a misjudged message is learned. */
  times: number;
}

// Chosen by cross-validation inside the eval's training part (as `npm run cv:bayes` does); nearby values
// (ham 0.2–0.5, spam 0.8–0.95, 2–3 times) measured the same within noise.
export const DEFAULT_REINFORCE: ReinforceOptions = { hamAbove: 0.3, spamBelow: 0.9, times: 2 };

export interface ReinforceResult {
  /** Messages judged. */
  checked: number;
  /** Messages skipped because the dictionary does not hold them (a file changed since it was learned). */
  skipped: number;
  /** Messages learned again, by class. */
  spam: number;
  ham: number;
}

export interface LearnedMessage {
  raw: Buffer | string;
  spam: boolean;
}

/**
 * Reinforces `filter`'s dictionary with the misjudged ones among `messages`, which must all have been learned
 * into it already: each is taken out while it is judged, and one the dictionary does not hold is skipped.
 * Judging happens against the dictionary as plain training left it, so the order of the messages does not matter.
 * `background`, when given, is read but never changed: its counts are added to `filter`'s for judging.
 */
export function reinforce(
  filter: BayesFilter,
  messages: Iterable<LearnedMessage>,
  options: Partial<ReinforceOptions> = {},
  background?: Dictionary,
): ReinforceResult {
  const o = { ...DEFAULT_REINFORCE, ...options };
  const dict = filter.dict;
  // With a background (the dictionary a merge adds to), messages are judged by everything known, not only by
  // what this training learned; only `dict` is changed.
  const counts = new LayeredCounts(background ? [dict, background] : [dict]);
  // Slots stay valid to the end: judging only looks up tokens the dictionary has, so it never grows.
  const again: Array<{ slots: Int32Array; spam: boolean }> = [];
  let checked = 0;
  let skipped = 0;
  for (const m of messages) {
    const bag = filter.hashedTokens(m.raw);
    const slots = slotsHeld(filter, bag, m.spam);
    // Taking out counts that were never put in would wrap them around; such a message is left alone.
    if (!slots) { skipped++; continue; }
    dict.addAtSlots(slots, m.spam, -1);
    const p = classifyHashed(bag, counts, filter.scoring).probability;
    dict.addAtSlots(slots, m.spam, 1);
    checked++;
    if (m.spam ? p < o.spamBelow : p > o.hamAbove) again.push({ slots, spam: m.spam });
  }
  for (const a of again) dict.addAtSlots(a.slots, a.spam, o.times);
  const spam = again.filter((a) => a.spam).length;
  return { checked, skipped, spam, ham: again.length - spam };
}

/** The dictionary slots of the bag's tokens, or undefined when the dictionary does not hold them all in this class. */
function slotsHeld(filter: BayesFilter, bag: HashedBag, spam: boolean): Int32Array | undefined {
  const dict = filter.dict;
  if ((spam ? dict.nspam : dict.nham) < 1) return undefined;
  const slots = new Int32Array(bag.size);
  for (let t = 0; t < bag.size; t++) {
    const slot = dict.slotOfHash(bag.a[t], bag.b[t]);
    if (slot < 0 || (spam ? dict.spamAt(slot) : dict.hamAt(slot)) < 1) return undefined;
    slots[t] = slot;
  }
  return slots;
}
