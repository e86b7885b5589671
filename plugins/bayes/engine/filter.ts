// One object that ties the tokenizer, a dictionary and the scoring options together, so the CLI, the eval
// script and the gateway plugin learn and score a message in exactly the same way.
import { Dictionary } from './dictionary.ts';
import { tokenize, tokenizeInto, DEFAULT_TOKENIZER, type TokenizerOptions, type TokenCounts } from './tokenizer.ts';
import { parseMail } from './mime.ts';
import { classify, DEFAULT_SCORING, type CountReader, type Score, type ScoringOptions } from './classify.ts';

export class BayesFilter {
  dict: Dictionary;
  tokenizer: TokenizerOptions;
  scoring: ScoringOptions;

  constructor(dict = new Dictionary(), tokenizer: Partial<TokenizerOptions> = {}, scoring: Partial<ScoringOptions> = {}) {
    this.dict = dict;
    this.tokenizer = { ...DEFAULT_TOKENIZER, ...tokenizer };
    this.scoring = { ...DEFAULT_SCORING, ...scoring };
  }

  tokens(raw: Buffer | string): TokenCounts {
    return tokenize(raw, this.tokenizer);
  }

  /** Learns a message straight into the dictionary (no per-message token set: the fast path for training). */
  learn(raw: Buffer | string, isSpam: boolean): void {
    const dict = this.dict;
    dict.beginMessage(isSpam, this.tokenizer.maxTokens);
    tokenizeInto(parseMail(raw, { maxBytes: this.tokenizer.maxBytes }), this.tokenizer, {
      add: (t) => dict.addOnce(t),
      addWord: (p, w, prev, unigram) => dict.addWordOnce(p, w, prev, unigram),
    });
  }

  score(raw: Buffer | string, counts: CountReader = this.dict, explain = false): Score {
    return classify(this.tokens(raw), counts, this.scoring, explain);
  }
}
