// Learns folders of spam and ham into a dictionary, with a progress bar; shared by `moat bayes` and the
// script that builds the shipped default dictionary.
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { Dictionary } from '../../plugins/bayes/engine/dictionary.ts';
import { reinforce, type ReinforceResult } from '../../plugins/bayes/engine/reinforce.ts';
import type { TokenizerOptions } from '../../plugins/bayes/engine/tokenizer.ts';
import { listSources, readMessages, type MailSource } from './mail-folders.ts';
import { Progress } from './progress.ts';

export interface TrainResult {
  dict: Dictionary;
  spam: number;
  ham: number;
  /** Seconds spent learning (the plain pass). */
  seconds: number;
  /** The reinforcement pass, when asked for. */
  reinforced?: ReinforceResult & { seconds: number };
}

export interface TrainOptions {
  tokenizer?: Partial<TokenizerOptions>;
  /** Show a progress bar (default: when stderr is a terminal). */
  showProgress?: boolean;
  /** After learning, learn again the messages the rest would misjudge (see engine/reinforce.ts). */
  reinforce?: boolean;
  /** Counts the folders will be merged into: read (not changed) when judging in the reinforcement pass. */
  background?: Dictionary;
}

/** Every message of both folders, each with its class, ticking `bar` once per file. */
function* labelled(spamSources: MailSource[], hamSources: MailSource[], bar: Progress): Generator<{ raw: Buffer; spam: boolean }> {
  for (const [sources, spam] of [[spamSources, true], [hamSources, false]] as const) {
    let file = '';
    for (const item of readMessages(sources)) {
      yield { raw: item.raw, spam };
      const f = item.name.replace(/#\d+$/, '');
      if (f !== file) { file = f; bar.tick(); }
    }
  }
}

/** Learns every message under `spamDir` and `hamDir` into a new dictionary. */
export function trainFolders(spamDir: string, hamDir: string, o: TrainOptions = {}): TrainResult {
  const filter = new BayesFilter(new Dictionary(), o.tokenizer);
  const spamSources = listSources(spamDir);
  const hamSources = listSources(hamDir);
  const files = spamSources.length + hamSources.length;
  const t0 = performance.now();
  let spam = 0;
  let ham = 0;
  const bar = new Progress('learning', files, o.showProgress);
  for (const m of labelled(spamSources, hamSources, bar)) {
    filter.learn(m.raw, m.spam);
    if (m.spam) spam++; else ham++;
  }
  bar.finish();
  const result: TrainResult = { dict: filter.dict, spam, ham, seconds: (performance.now() - t0) / 1000 };
  if (o.reinforce) {
    const t1 = performance.now();
    const again = new Progress('reinforcing', files, o.showProgress);
    const r = reinforce(filter, labelled(spamSources, hamSources, again), {}, o.background);
    again.finish();
    result.reinforced = { ...r, seconds: (performance.now() - t1) / 1000 };
  }
  return result;
}
