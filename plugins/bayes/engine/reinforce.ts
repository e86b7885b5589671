// Second training pass: every message just learned is judged as if it had not been (scored with its own counts
// taken out), and those the rest of the training set would misjudge are learned again a few times. The messages
// come from what learning recorded (learned-tokens.ts), so none is read, parsed or tokenized twice.
// Plain training counts a hard message once, like an easy one, so its evidence is drowned out; this gives
// extra weight to what the dictionary cannot yet tell, much as bogofilter's train-on-error and DSPAM's TUNE
// do, but judged on held-out scores, because a message already learned always looks right to the dictionary.
import { Evidence, clampProbability, scoreFromSums, tokenProbability, type ScoringOptions } from './classify.ts';
import type { BayesFilter } from './filter.ts';
import type { CountsByIds, Dictionary } from './dictionary.ts';
import type { LearnedTokens } from './learned-tokens.ts';

export interface ReinforceOptions {
  /** A ham scoring above this without its own counts is learned again. */
  hamAbove: number;
  /** A spam scoring below this without its own counts is learned again. */
  spamBelow: number;
  /** How many more times a misjudged spam is learned. */
  spamTimes: number;
  /** How many more times a misjudged ham is learned. */
  hamTimes: number;
}

// Chosen by cross-validation inside the eval's training part (as `npm run cv:bayes` does); nearby thresholds
// (ham 0.15–0.5, spam 0.8–0.95) measured the same within noise. A misjudged ham weighs more than a misjudged
// spam, as a ham taken for spam costs more: with ham learned 8 times more, every one of 8 fold seeds gained in
// the mean catch over 0–0.5% ham and in 1-ROCA against ham learned twice more; 6–16 times for ham and 1–3 for
// spam measured alike on average.
export const DEFAULT_REINFORCE: ReinforceOptions = { hamAbove: 0.3, spamBelow: 0.9, spamTimes: 2, hamTimes: 8 };

export interface ReinforceResult {
  /** Messages judged. */
  checked: number;
  /** Messages learned again, by class. */
  spam: number;
  ham: number;
}

/**
 * Reinforces `filter`'s dictionary with the misjudged ones among the messages `learned` recorded as they were
 * learned into it (`filter.learn(raw, spam, { record: learned })`): each is judged with its own counts taken out.
 * Judging happens against the dictionary as plain training left it, so the order of the messages does not matter.
 * `background`, when given, is read but never changed: its counts are added to `filter`'s for judging.
 */
export function reinforce(
  filter: BayesFilter,
  learned: LearnedTokens,
  options: Partial<ReinforceOptions> = {},
  background?: Dictionary,
  counts: CountsByIds = filter.dict.countsByIds(background),
): ReinforceResult {
  const o = { ...DEFAULT_REINFORCE, ...options };
  const p = heldOutProbabilities(filter, learned, background, counts);
  const slotOf = filter.dict.slotsOfIds();
  let spam = 0;
  let ham = 0;
  for (let m = 0; m < learned.size; m++) {
    const isSpam = learned.isSpam(m);
    if (isSpam ? p[m] >= o.spamBelow : p[m] <= o.hamAbove) continue;
    const { ids } = learned.tokensOf(m);
    const times = isSpam ? o.spamTimes : o.hamTimes;
    filter.dict.addAtSlots(ids.map((id) => slotOf[id]), isSpam, times);
    // `counts` stay the dictionary's, so the linear pass can start from them instead of reading the table again.
    const column = isSpam ? counts.spam : counts.ham;
    for (let t = 0; t < ids.length; t++) column[ids[t]] += times;
    if (isSpam) spam++; else ham++;
  }
  return { checked: learned.size, spam, ham };
}

/**
 * Each recorded message's probability as if it had never been learned (the dictionary is not changed). `counts`
 * are the dictionary's by token number, `background`'s added, as `countsByIds` reads them.
 */
export function heldOutProbabilities(
  filter: BayesFilter,
  learned: LearnedTokens,
  background?: Dictionary,
  counts: CountsByIds = filter.dict.countsByIds(background),
): Float64Array {
  const dict = filter.dict;
  const nspam = dict.nspam + (background?.nspam ?? 0);
  const nham = dict.nham + (background?.nham ?? 0);
  if (filter.scoring.mode === 'all') return heldOutEveryToken(counts, nspam, nham, learned, filter.scoring);
  const p = new Float64Array(learned.size);
  for (let m = 0; m < learned.size; m++) {
    const { ids, occurrences } = learned.tokensOf(m);
    // Its own count comes off: one per distinct token, and one message in its class's total.
    const ownSpam = learned.isSpam(m) ? 1 : 0;
    const ownHam = 1 - ownSpam;
    const evidence = new Evidence(nspam - ownSpam, nham - ownHam, filter.scoring);
    for (let t = 0; t < ids.length; t++) {
      const s = counts.spam[ids[t]] - ownSpam;
      const h = counts.ham[ids[t]] - ownHam;
      // Only this message had the token: a dictionary that never learned it would not know it at all.
      if (s === 0 && h === 0) continue;
      evidence.add(s, h, occurrences[t]);
    }
    p[m] = evidence.score().probability;
  }
  return p;
}

/**
 * `heldOutProbabilities` in the `all` mode, where a message's score follows from two sums over its tokens. With a
 * message's own counts taken out, a token's probability depends only on the message's class, so each token's
 * logs are worked out once per class rather than once per message that holds it: the same sums in the same
 * order, so the same scores to the last bit, at about half the time.
 */
function heldOutEveryToken(
  counts: CountsByIds,
  nspam: number,
  nham: number,
  learned: LearnedTokens,
  o: ScoringOptions,
): Float64Array {
  const n = counts.spam.length;
  // Per class a message is held out of: ln f and ln(1 − f) at 2·id and 2·id + 1, and a bit per token that says
  // whether it counts at all. Two thirds of a message's tokens do not (neutral, or known only from the message
  // itself); the bits (128 KB a class for a million tokens) stay in cache where the logs (16 MB) do not, so those
  // tokens cost no miss.
  const logs = [new Float64Array(2 * n), new Float64Array(2 * n)];
  const kept = [new Int32Array((n + 31) >>> 5), new Int32Array((n + 31) >>> 5)];
  for (let spam = 0; spam < 2; spam++) {
    const own = spam ? counts.spam : counts.ham;
    const ln = logs[spam];
    const bits = kept[spam];
    for (let id = 0; id < n; id++) {
      // A token no message of this class holds is never looked up for it.
      if (own[id] === 0) continue;
      const s = counts.spam[id] - spam;
      const h = counts.ham[id] - (1 - spam);
      if (s === 0 && h === 0) continue;
      const f = tokenProbability(s, h, nspam - spam, nham - (1 - spam), o);
      if (Math.abs(f - 0.5) < o.minDev) continue;
      const c = clampProbability(f);
      ln[2 * id] = Math.log(c);
      ln[2 * id + 1] = Math.log1p(-c);
      bits[id >>> 5] |= 1 << (id & 31);
    }
  }
  const p = new Float64Array(learned.size);
  // One class's messages, then the other's, so only one class's logs are in use at a time.
  for (let spam = 0; spam < 2; spam++) {
    const ln = logs[spam];
    const bits = kept[spam];
    for (let m = 0; m < learned.size; m++) {
      if (learned.isSpam(m) !== (spam === 1)) continue;
      const { ids } = learned.tokensOf(m);
      let lnHam = 0;
      let lnSpam = 0;
      let used = 0;
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t];
        if ((bits[id >>> 5] & (1 << (id & 31))) === 0) continue;
        lnHam += ln[2 * id];
        lnSpam += ln[2 * id + 1];
        used++;
      }
      p[m] = scoreFromSums(lnHam, lnSpam, used, o).probability;
    }
  }
  return p;
}
