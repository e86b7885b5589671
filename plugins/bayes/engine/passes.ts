// The passes that follow plain learning, in the order `moat bayes create` runs them: the reinforcement pass, the
// linear model's, the byte model's. One function for the CLI, the eval, the cross-validation and the default
// dictionary's build, so each runs them alike, and the counts one pass reads are handed to the next.
import type { BayesFilter } from './filter.ts';
import type { CountsByIds, Dictionary } from './dictionary.ts';
import type { LearnedTokens } from './learned-tokens.ts';
import type { ByteGramOptions, ByteSamples } from './byte-grams.ts';
import { reinforce, type ReinforceOptions, type ReinforceResult } from './reinforce.ts';
import { learnWeights, type LinearOptions, type LinearResult } from './linear.ts';

export type PassName = 'reinforce' | 'linear' | 'byteGrams';

export interface PassesOptions {
  /** The reinforcement pass's options, or false to leave it out. */
  reinforce?: Partial<ReinforceOptions> | false;
  /** The linear model's options, or false to leave it out. */
  linear?: Partial<LinearOptions> | false;
  /** The byte model's options, or false to leave it out. */
  byteGrams?: Partial<ByteGramOptions> | false;
  /** Counts the messages will be merged into: read (never changed) when judging, and where the models start from. */
  background?: Dictionary;
  /** Called after each pass that ran, outside its time (the eval scores its test part there). */
  afterPass?: (pass: PassName) => void;
}

export interface PassesResult {
  reinforced?: ReinforceResult & { seconds: number };
  linear?: LinearResult & { seconds: number };
  /** Messages the byte model has been fitted on in all (the background's included). */
  byteGrams?: { messages: number; seconds: number };
}

/**
 * Runs the passes after `filter` learned the messages `learned` recorded (without a record, only the byte model's
 * can run) and `samples` holds (without samples, the byte model's cannot).
 */
export function runPasses(filter: BayesFilter, learned: LearnedTokens | undefined, samples: ByteSamples | undefined, o: PassesOptions = {}): PassesResult {
  const result: PassesResult = {};
  const since = (t: number) => (performance.now() - t) / 1000;
  let counts: CountsByIds | undefined;
  if (learned && o.reinforce !== false) {
    const t = performance.now();
    // Read once: the reinforcement pass keeps them in step with what it learns again, and the linear pass starts from them.
    counts = filter.dict.countsByIds(o.background);
    const r = reinforce(filter, learned, o.reinforce ?? {}, o.background, counts);
    result.reinforced = { ...r, seconds: since(t) };
    o.afterPass?.('reinforce');
  }
  if (learned && o.linear !== false) {
    const t = performance.now();
    const r = learnWeights(filter.dict, learned, o.linear ?? {}, o.background, counts);
    result.linear = { ...r, seconds: since(t) };
    o.afterPass?.('linear');
  }
  if (samples && o.byteGrams !== false) {
    const t = performance.now();
    const model = samples.fit(o.byteGrams ?? {}, o.background?.byteGrams);
    filter.dict.byteGrams = model;
    result.byteGrams = { messages: model.messages, seconds: since(t) };
    o.afterPass?.('byteGrams');
  }
  return result;
}
