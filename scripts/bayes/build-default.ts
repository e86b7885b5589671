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

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const corpusDir = path.resolve(opt('--corpus', DEFAULT_CORPUS));
const outFile = path.resolve(opt('--out', path.join(here, '../../dictionaries/default.tab')));
const maxTokens = Number(opt('--max-tokens', '200000'));

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
