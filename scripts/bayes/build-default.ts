// Builds the shipped default dictionary, dictionaries/default.tab, from every message of the shared corpus,
// then prunes it to a size fit for the repository. Run: node scripts/bayes/build-default.ts [--max-tokens N]
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { prune } from '../../plugins/bayes/engine/prune.ts';
import { runPasses } from '../../plugins/bayes/engine/passes.ts';
import { LearnedTokens } from '../../plugins/bayes/engine/learned-tokens.ts';
import { SeenMessages } from '../../plugins/bayes/engine/seen-messages.ts';
import { saveDictionary, withLock } from '../../plugins/bayes/engine/persist.ts';
import { DEFAULT_CORPUS, loadCorpus } from './corpus.ts';
import { Progress } from './progress.ts';
import { readCommand, USAGE_ERROR } from '../cli/args.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const usage = `usage: node scripts/bayes/build-default.ts [--corpus DIR] [--out FILE] [--max-tokens N]
  --corpus DIR      spam/ham corpus (default ../shared/corpus), every message of it learned
  --out FILE        where to write (default dictionaries/default.tab, replaced)
  --max-tokens N    tokens kept at most when pruning, those seen in the most messages (default 200000; 0: no limit)`;
// Strict: an option this script did not know (--help, say) used to be ignored, and the build replaced default.tab.
const line = readCommand(process.argv.slice(2), {
  corpus: { type: 'string', default: DEFAULT_CORPUS },
  out: { type: 'string', default: path.join(here, '../../dictionaries/default.tab') },
  'max-tokens': { type: 'string', default: '200000' },
}, usage);
if (typeof line === 'number') process.exit(line);
const corpusDir = path.resolve(line.values.corpus);
const outFile = path.resolve(line.values.out);
const maxTokens = Number(line.values['max-tokens']);
if (line.positionals.length || !Number.isInteger(maxTokens) || maxTokens < 0) {
  console.error(`${line.positionals.length ? `unexpected argument ${line.positionals[0]}` : '--max-tokens must be a whole number ≥ 0'}\n\n${usage}`);
  process.exit(USAGE_ERROR);
}

const all = loadCorpus(corpusDir);
const filter = new BayesFilter();
const bar = new Progress('learning', all.length);
const learned = new LearnedTokens();
const samples = filter.byteSamples();
const seen = new SeenMessages();
for (const m of all) { filter.learn(m.raw, m.spam, { record: learned, samples, seen }); bar.tick(); }
bar.finish();
// The same passes as `moat bayes create`: misjudged messages learned again, the weights, the byte model.
const again = runPasses(filter, learned, samples).reinforced!;
const r = prune(filter.dict, { minCount: 2, neutral: 0.1, maxTokens });
await withLock(outFile, () => saveDictionary(outFile, filter.dict));
console.log(`${outFile}: ${filter.dict.nspam} spam, ${filter.dict.nham} ham messages (${seen.duplicates.spam} spam and ${seen.duplicates.ham} ham copies passed over, ${again.spam} spam and ${again.ham} ham learned again); ${r.before} tokens pruned to ${r.after}; ${(fs.statSync(outFile).size / 1e6).toFixed(2)} MB`);
