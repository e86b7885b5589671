// `npm run cv:bayes`: k-fold cross-validation of the Bayes filter inside the training part of the eval split
// (or, with --all, over the whole corpus), repeated over several fold seeds. Tokenizer and scoring changes are
// chosen with this, so the test part of `npm run eval:bayes` stays unseen.
import path from 'node:path';
import { createHash } from 'node:crypto';
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { rankKey } from '../../plugins/bayes/engine/classify.ts';
import { runPasses } from '../../plugins/bayes/engine/passes.ts';
import { LearnedTokens } from '../../plugins/bayes/engine/learned-tokens.ts';
import { SeenMessages } from '../../plugins/bayes/engine/seen-messages.ts';
import { DEFAULT_PER_SET_WEIGHT, groupBySet, readWeight, scoredWithOwn } from './per-set.ts';
import { DEFAULT_CORPUS, firstCopies, loadCorpus, splitCorpus, type CorpusMessage } from './corpus.ts';
import { rocArea, spamCaughtAtHamRates, type Scored } from './metrics.ts';
import { readCommand, USAGE_ERROR } from '../cli/args.ts';

const HAM_RATES = [0.001, 0.0025, 0.005, 0.01];
const usage = `usage: node scripts/bayes/cross-validate.ts [--corpus DIR] [--folds N] [--seeds N] [--all]
  [--scoring JSON] [--tokenizer JSON] [--reinforce JSON | --no-reinforce] [--linear JSON | --no-linear]
  [--byte-grams JSON | --no-byte-grams] [--keep-duplicates] [--per-set [--per-set-weight W]]
  --all           folds over the whole corpus instead of the eval split's training part
  --scoring       scoring options to try, e.g. '{"robs":0.5}'; --tokenizer, --reinforce, --linear, --byte-grams likewise
  --no-reinforce  without the pass that learns misjudged messages again
  --no-linear     without the pass that fits the linear model's weights
  --no-byte-grams without the pass that fits the byte model
  --keep-duplicates learn every copy of a message, as training did before it learned each copy once
  --per-set       a dictionary per recipient: each set (one user's mailbox) also gets a dictionary of its own, trained
                  on the fold's training messages of that set as the shared one is, and a held-out message is scored
                  by the shared dictionary and its set's together, as the plugin scores a recipient's mail
  --per-set-weight W  the set's dictionary's weight in the mean of the two logits (default ${DEFAULT_PER_SET_WEIGHT}, as the plugin's)`;
const line = readCommand(process.argv.slice(2), {
  corpus: { type: 'string', default: DEFAULT_CORPUS },
  folds: { type: 'string', default: '3' },
  seeds: { type: 'string', default: '4' },
  all: { type: 'boolean', default: false },
  scoring: { type: 'string', default: '{}' },
  tokenizer: { type: 'string', default: '{}' },
  reinforce: { type: 'string', default: '{}' },
  'no-reinforce': { type: 'boolean', default: false },
  linear: { type: 'string', default: '{}' },
  'no-linear': { type: 'boolean', default: false },
  'byte-grams': { type: 'string', default: '{}' },
  'no-byte-grams': { type: 'boolean', default: false },
  'keep-duplicates': { type: 'boolean', default: false },
  'per-set': { type: 'boolean', default: false },
  'per-set-weight': { type: 'string' },
}, usage);
if (typeof line === 'number') process.exit(line);
const { values } = line;
const folds = Number(values.folds);
const seeds = Number(values.seeds);
if (!Number.isInteger(folds) || folds < 2 || !Number.isInteger(seeds) || seeds < 1) {
  console.error(`--folds must be a whole number ≥ 2 and --seeds ≥ 1\n\n${usage}`);
  process.exit(USAGE_ERROR);
}
function jsonOption(name: string, text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* reported below */ }
  console.error(`--${name} must be a JSON object, e.g. '{"robs":0.5}'\n\n${usage}`);
  process.exit(USAGE_ERROR);
}
const perSet = values['per-set'];
const perSetWeight = readWeight(values['per-set-weight'] ?? String(DEFAULT_PER_SET_WEIGHT));
if (perSetWeight === undefined || (values['per-set-weight'] !== undefined && !perSet)) {
  console.error(`${perSet ? '--per-set-weight must be a number ≥ 0' : '--per-set-weight goes with --per-set'}\n\n${usage}`);
  process.exit(USAGE_ERROR);
}
const scoring = jsonOption('scoring', values.scoring);
const tokenizer = jsonOption('tokenizer', values.tokenizer);
const reinforcing = jsonOption('reinforce', values.reinforce);
const linearOptions = jsonOption('linear', values.linear);
const byteOptions = jsonOption('byte-grams', values['byte-grams']);

const all = loadCorpus(path.resolve(values.corpus));
const pool = values.all ? all : splitCorpus(all, 60).train;
// A copy goes to its first copy's fold, as it goes to its side of the split: held out, it would be scored by a
// dictionary that learned it word for word.
const first = firstCopies(pool);
const foldOf = (m: CorpusMessage, seed: number) => {
  const f = first.get(m)!;
  return createHash('md5').update(`${seed}${f.set}/${f.name}`).digest().readUInt32BE(0) % folds;
};

console.log(`${pool.length} messages (${values.all ? 'whole corpus' : 'training part of the eval split'}), ${folds} folds × ${seeds} seeds, ` +
  `${values['no-reinforce'] ? 'no reinforcement pass' : 'with the reinforcement pass'}, ${values['no-linear'] ? 'no linear pass' : 'with the linear pass'}, ${values['no-byte-grams'] ? 'no byte model' : 'with the byte model'}` +
  (perSet ? `, plus a dictionary per set (each set one recipient's mailbox) trained alike, its logit averaged with the shared one's at weight ${perSetWeight}` : ''));
console.log(`  seed  ${HAM_RATES.map((r) => `caught@${(r * 100).toString()}%ham`.padStart(16)).join(' ')}  1-ROCA %`);
const sums = new Array(HAM_RATES.length + 1).fill(0);
for (let seed = 0; seed < seeds; seed++) {
  const results: Scored[] = [];
  for (let k = 0; k < folds; k++) {
    const training = pool.filter((m) => foldOf(m, seed) !== k);
    const filter = train(training);
    // Each set's own dictionary learns only that set's share of the fold's training messages.
    const own = perSet ? new Map([...groupBySet(training)].map(([set, msgs]) => [set, train(msgs)])) : undefined;
    for (const m of pool) {
      if (foldOf(m, seed) !== k) continue;
      const s = filter.score(m.raw);
      if (own) results.push(scoredWithOwn(m.spam, s, own.get(m.set)?.score(m.raw), perSetWeight));
      else results.push({ spam: m.spam, p: s.probability, tie: rankKey(s) });
    }
  }
  const row = [...spamCaughtAtHamRates(results, HAM_RATES), 100 * (1 - rocArea(results))];
  row.forEach((v, i) => { sums[i] += v; });
  console.log(`  ${String(seed).padStart(4)}  ${row.slice(0, -1).map((v) => v.toFixed(2).padStart(16)).join(' ')}  ${row[row.length - 1].toFixed(4)}`);
}
console.log(`  mean  ${sums.slice(0, -1).map((v) => (v / seeds).toFixed(2).padStart(16)).join(' ')}  ${(sums[sums.length - 1] / seeds).toFixed(4)}`);

/** A dictionary trained on `training` with the options asked for, every pass included unless left out. */
function train(training: CorpusMessage[]): BayesFilter {
  const filter = new BayesFilter(undefined, tokenizer, scoring);
  const learned = values['no-reinforce'] && values['no-linear'] ? undefined : new LearnedTokens();
  const samples = values['no-byte-grams'] ? undefined : filter.byteSamples();
  const seen = values['keep-duplicates'] ? undefined : new SeenMessages();
  for (const m of training) filter.learn(m.raw, m.spam, { record: learned, samples, seen });
  runPasses(filter, learned, samples, {
    reinforce: values['no-reinforce'] ? false : reinforcing,
    linear: values['no-linear'] ? false : linearOptions,
    byteGrams: byteOptions,
  });
  return filter;
}
