// One object that ties the tokenizer, a dictionary and the scoring options together, so the CLI, the eval
// script and the gateway plugin learn and score a message in exactly the same way.
import { Dictionary } from './dictionary.ts';
import { tokenize, DEFAULT_TOKENIZER, type TokenizerOptions, type TokenCounts } from './tokenizer.ts';
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

  learn(raw: Buffer | string, isSpam: boolean): TokenCounts {
    const t = this.tokens(raw);
    this.dict.learn(t.keys(), isSpam);
    return t;
  }

  score(raw: Buffer | string, counts: CountReader = this.dict): Score {
    return classify(this.tokens(raw), counts, this.scoring);
  }
}
