// One object that ties the tokenizer, a dictionary and the scoring options together, so the CLI, the eval
// script and the gateway plugin learn and score a message in exactly the same way.
import { Dictionary } from './dictionary.ts';
import { readMail, tokenize, tokenizeInto, DEFAULT_TOKENIZER, type TokenizerOptions, type TokenCounts } from './tokenizer.ts';
import { classify, classifyHashed, DEFAULT_SCORING, type CountReader, type HashedCounts, type Score, type ScoringOptions } from './classify.ts';
import { HashedBag } from './hashed-bag.ts';
import type { LearnedTokens } from './learned-tokens.ts';
import { ByteSamples, messagePrefix, type ByteGramModel } from './byte-grams.ts';
import type { SeenMessages } from './seen-messages.ts';

/** What a training run keeps besides the dictionary's counts as it learns each message. */
export interface LearnInto {
  /** Notes the message's tokens for the reinforcement and linear passes (engine/passes.ts runs them). */
  record?: LearnedTokens;
  /** Keeps its first bytes for the byte model's pass. */
  samples?: ByteSamples;
  /** Passes over a copy of a message already learned through the same `seen` (same class, same tokens). */
  seen?: SeenMessages;
}

export class BayesFilter {
  dict: Dictionary;
  tokenizer: TokenizerOptions;
  scoring: ScoringOptions;
  /** Reused by every `score` call, and the other by every `learn` (both synchronous, so one message at a time). */
  private bag?: HashedBag;
  /** Learning's bag also keeps each token's pieces, to write the text of tokens new to the dictionary. */
  private learningBag?: HashedBag;

  constructor(dict = new Dictionary(), tokenizer: Partial<TokenizerOptions> = {}, scoring: Partial<ScoringOptions> = {}) {
    this.dict = dict;
    this.tokenizer = { ...DEFAULT_TOKENIZER, ...tokenizer };
    this.scoring = { ...DEFAULT_SCORING, ...scoring };
  }

  tokens(raw: Buffer | string): TokenCounts {
    return tokenize(raw, this.tokenizer);
  }

  /**
   * Learns a message straight into the dictionary, from its bag of hashed tokens (the fast path for training), and
   * keeps what `into` asks for. Returns false when `into.seen` knew it already, and then learns nothing.
   */
  learn(raw: Buffer | string, isSpam: boolean, into: LearnInto = {}): boolean {
    if (this.learningBag?.capacity !== this.tokenizer.maxTokens) this.learningBag = new HashedBag(this.tokenizer.maxTokens, true);
    const bag = this.fill(this.learningBag, raw);
    if (into.seen && !into.seen.add(bag, isSpam)) return false;
    this.dict.learnBag(bag, isSpam, into.record);
    into.samples?.add(raw, isSpam);
    return true;
  }

  /**
   * Scores a message. Against dictionaries (one, or layers of them) the tokens are looked up by their hashes and no
   * token string is built; `explain` (which lists tokens by name) and other count readers take the string path.
   */
  score(raw: Buffer | string, counts: CountReader = this.dict, explain = false): Score {
    const bytes = this.byteTerm(raw, counts);
    const hashed = explain ? undefined : hashedView(counts);
    if (!hashed) return classify(this.tokens(raw), counts, this.scoring, explain, bytes);
    return classifyHashed(this.hashedTokens(raw), hashed, this.scoring, bytes);
  }

  /**
   * The byte model's term for a message (engine/byte-grams.ts), from the model of `counts` (of its first layer
   * that has one); undefined without a model, or when scoring leaves it out.
   */
  byteTerm(raw: Buffer | string, counts: CountReader = this.dict): number | undefined {
    if (!((this.scoring.byteGramWeight ?? 0) > 0)) return undefined;
    const model = byteModelOf(counts);
    return model ? model.term(messagePrefix(raw, this.tokenizer.ignoreHeaders, model.prefixBytes)) : undefined;
  }

  /** Where training keeps what the byte model's pass goes over (it reads messages as this filter's tokenizer does). */
  byteSamples(): ByteSamples {
    return new ByteSamples(this.tokenizer.ignoreHeaders);
  }

  /** The message's tokens as hash pairs, in a bag this filter reuses: valid until its next `score` or `hashedTokens`. */
  hashedTokens(raw: Buffer | string): HashedBag {
    if (this.bag?.capacity !== this.tokenizer.maxTokens) this.bag = new HashedBag(this.tokenizer.maxTokens);
    return this.fill(this.bag, raw);
  }

  private fill(bag: HashedBag, raw: Buffer | string): HashedBag {
    bag.clear();
    tokenizeInto(readMail(raw, this.tokenizer), this.tokenizer, bag);
    return bag;
  }
}

function byteModelOf(counts: CountReader): ByteGramModel | undefined {
  if (counts instanceof Dictionary) return counts.byteGrams;
  const layers = (counts as { layers?: unknown }).layers;
  if (!Array.isArray(layers)) return undefined;
  for (const l of layers) if (l instanceof Dictionary && l.byteGrams) return l.byteGrams;
  return undefined;
}

/** The reader as dictionaries that can be probed by hash: a Dictionary, or an object holding them as `layers`. */
function hashedView(counts: CountReader): HashedCounts | undefined {
  if (counts instanceof Dictionary) return { nspam: counts.nspam, nham: counts.nham, layers: [counts] };
  const layers = (counts as { layers?: unknown }).layers;
  if (Array.isArray(layers) && layers.every((l) => l instanceof Dictionary)) return { nspam: counts.nspam, nham: counts.nham, layers };
  return undefined;
}
