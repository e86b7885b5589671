// Learns folders of spam and ham into a dictionary, with a progress bar; shared by `moat bayes` and the
// script that builds the shipped default dictionary.
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { Dictionary } from '../../plugins/bayes/engine/dictionary.ts';
import type { TokenizerOptions } from '../../plugins/bayes/engine/tokenizer.ts';
import { listSources, readMessages } from './mail-folders.ts';
import { Progress } from './progress.ts';

export interface TrainResult { dict: Dictionary; spam: number; ham: number; seconds: number }

/** Learns every message under `spamDir` and `hamDir` into a new dictionary. */
export function trainFolders(spamDir: string, hamDir: string, tokenizer: Partial<TokenizerOptions> = {}, showProgress?: boolean): TrainResult {
  const filter = new BayesFilter(new Dictionary(), tokenizer);
  const spamSources = listSources(spamDir);
  const hamSources = listSources(hamDir);
  const bar = new Progress('learning', spamSources.length + hamSources.length, showProgress);
  const t0 = performance.now();
  let spam = 0;
  let ham = 0;
  for (const [sources, isSpam] of [[spamSources, true], [hamSources, false]] as const) {
    let file = '';
    for (const item of readMessages(sources)) {
      filter.learn(item.raw, isSpam);
      if (isSpam) spam++; else ham++;
      const f = item.name.replace(/#\d+$/, '');
      if (f !== file) { file = f; bar.tick(); }
    }
  }
  bar.finish();
  return { dict: filter.dict, spam, ham, seconds: (performance.now() - t0) / 1000 };
}
