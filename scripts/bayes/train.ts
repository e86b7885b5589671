// Learns folders of spam and ham into a dictionary, with a progress bar; shared by `moat bayes create` and `merge`.
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { Dictionary } from '../../plugins/bayes/engine/dictionary.ts';
import { LearnedTokens } from '../../plugins/bayes/engine/learned-tokens.ts';
import { SeenMessages } from '../../plugins/bayes/engine/seen-messages.ts';
import { runPasses, type PassesResult } from '../../plugins/bayes/engine/passes.ts';
import type { TokenizerOptions } from '../../plugins/bayes/engine/tokenizer.ts';
import { readMessages, type MailSource, type SkippedFile } from './mail-folders.ts';
import { Progress } from './progress.ts';

/** What was learned, and the passes that ran after learning (`reinforced`, `linear`, `byteGrams`), each timed. */
export interface TrainResult extends PassesResult {
  dict: Dictionary;
  spam: number;
  ham: number;
  /** Seconds spent learning (the plain pass). */
  seconds: number;
  /** Files under the folders that gave no message. */
  skipped: SkippedFile[];
  /** Copies of messages already learned in this run (same class, same tokens), passed over. */
  duplicates: { spam: number; ham: number };
}

export interface TrainOptions {
  tokenizer?: Partial<TokenizerOptions>;
  /** Show a progress bar (default: when stderr is a terminal). */
  showProgress?: boolean;
  /** After learning, learn again the messages the rest would misjudge (see engine/reinforce.ts). */
  reinforce?: boolean;
  /** Then fit the linear model's weights (see engine/linear.ts). */
  linear?: boolean;
  /** Then fit the byte model (see engine/byte-grams.ts). */
  byteGrams?: boolean;
  /** Counts the folders will be merged into: read (not changed) when judging, and where the models start from. */
  background?: Dictionary;
  /** Learn every copy of a message, not each one once. */
  keepDuplicates?: boolean;
}

/** Every message of both folders, each with its class, ticking `bar` once per file. */
function* labelled(spamSources: MailSource[], hamSources: MailSource[], bar: Progress, skipped: SkippedFile[]): Generator<{ raw: Buffer; spam: boolean }> {
  for (const [sources, spam] of [[spamSources, true], [hamSources, false]] as const) {
    for (const item of readMessages(sources, { skipped, onFile: () => bar.tick(), onMessage: () => bar.message(), onProgress: (f) => bar.within(f) })) yield { raw: item.raw, spam };
  }
}

/** The message files of the spam and ham folders, as `listSources` found them, and what it passed over. */
export interface ListedFolders { spam: MailSource[]; ham: MailSource[]; skipped: SkippedFile[] }

/**
 * Learns every message of the listed folders into a new dictionary. They are listed by the caller, which checks the
 * listing (no place reached from both) before learning: the folders are walked once, and what was checked is what is
 * learned. Files that give no message are added to `folders.skipped`.
 */
export function trainFolders(folders: ListedFolders, o: TrainOptions = {}): TrainResult {
  const filter = new BayesFilter(new Dictionary(), o.tokenizer);
  const { spam: spamSources, ham: hamSources, skipped } = folders;
  const t0 = performance.now();
  let spam = 0;
  let ham = 0;
  const bar = new Progress('learning', spamSources.length + hamSources.length, o.showProgress);
  // What the reinforcement and linear passes go over, so no message is read twice.
  const learned = o.reinforce || o.linear ? new LearnedTokens() : undefined;
  const samples = o.byteGrams ? filter.byteSamples() : undefined;
  const seen = o.keepDuplicates ? undefined : new SeenMessages();
  for (const m of labelled(spamSources, hamSources, bar, skipped)) {
    if (!filter.learn(m.raw, m.spam, { record: learned, samples, seen })) continue;
    if (m.spam) spam++; else ham++;
  }
  bar.finish();
  const seconds = (performance.now() - t0) / 1000;
  const passes = runPasses(filter, learned, samples, { reinforce: o.reinforce ? {} : false, linear: o.linear ? {} : false, background: o.background });
  return { dict: filter.dict, spam, ham, seconds, skipped, duplicates: seen?.duplicates ?? { spam: 0, ham: 0 }, ...passes };
}
