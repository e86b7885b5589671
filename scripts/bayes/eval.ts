// `npm run eval:bayes`: trains Mailmoat's Bayes filter and bogofilter on the same deterministic part of the
// shared corpus, tests both on the rest, with and without X-Spam-* headers stripped, and prints them side by side.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { rankKey, DEFAULT_SCORING, type CalculationMode } from '../../plugins/bayes/engine/classify.ts';
import { reinforce, type ReinforceResult } from '../../plugins/bayes/engine/reinforce.ts';
import { LearnedTokens } from '../../plugins/bayes/engine/learned-tokens.ts';
import { DEFAULT_CORPUS, loadCorpus, splitCorpus, stripSpamHeaders, type CorpusMessage } from './corpus.ts';
import { figures, type Figures, type Scored } from './metrics.ts';
import { runBogofilter } from './bogofilter.ts';
import { ensureCommands } from '../../test/helpers/system-packages.ts';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const corpusDir = path.resolve(opt('--corpus', DEFAULT_CORPUS));
const trainPercent = Number(opt('--train', '60'));
const cutoff = Number(opt('--cutoff', '0.9'));
const skipBogo = args.includes('--no-bogofilter');

interface Row { who: string; fig: Figures; trainRate: number; scoreRate: number }

interface OurRow extends Row {
  bySet: Map<string, Figures>;
  modes: Map<CalculationMode, Figures>;
  /** The same filter after the plain pass only, before reinforcement. */
  plain: Figures;
  reinforced: ReinforceResult & { rate: number };
  /** Messages per second of the plain pass alone. */
  plainTrainRate: number;
}

function ours(train: CorpusMessage[], test: CorpusMessage[], view: (m: CorpusMessage) => Buffer, withModes: boolean): OurRow {
  const filter = new BayesFilter();
  const trainViews = train.map(view);
  const testViews = test.map(view);
  const scoreAll = (): Scored[] => testViews.map((raw, i) => {
    const s = filter.score(raw);
    return { spam: test[i].spam, p: s.probability, tie: rankKey(s) };
  });
  const learned = new LearnedTokens();
  const t0 = performance.now();
  for (let i = 0; i < train.length; i++) filter.learn(trainViews[i], train[i].spam, learned);
  const trainSeconds = (performance.now() - t0) / 1000;
  const plain = figures(scoreAll(), cutoff);
  const t1 = performance.now();
  const again = reinforce(filter, learned);
  const reinforceSeconds = (performance.now() - t1) / 1000;
  const reinforced = { ...again, rate: again.checked / reinforceSeconds };
  const t2 = performance.now();
  const results = scoreAll();
  const scoreSeconds = (performance.now() - t2) / 1000;
  const bySet = new Map<string, Figures>();
  for (const set of new Set(test.map((m) => m.set))) {
    bySet.set(set, figures(results.filter((_r, i) => test[i].set === set), cutoff));
  }
  // MailEnable's other two calculation methods, on the same dictionary.
  const modes = new Map<CalculationMode, Figures>();
  if (withModes) {
    for (const mode of ['frequent', 'extreme'] as const) {
      filter.scoring = { ...DEFAULT_SCORING, mode };
      modes.set(mode, figures(testViews.map((raw, i) => {
        const s = filter.score(raw);
        return { spam: test[i].spam, p: s.probability, tie: rankKey(s) };
      }), cutoff));
    }
    filter.scoring = DEFAULT_SCORING;
  }
  return { who: 'mailmoat', fig: figures(results, cutoff), trainRate: train.length / (trainSeconds + reinforceSeconds), scoreRate: test.length / scoreSeconds, bySet, modes, plain, reinforced,
    plainTrainRate: train.length / trainSeconds };
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

function printRows(rows: Row[]): void {
  console.log(`  ${'filter'.padEnd(10)} ${pad('ham→spam %', 11)} ${pad('spam caught %', 14)} ${pad('1-ROCA %', 9)} ${pad('caught@0.1%ham', 15)} ${pad('score msg/s', 12)} ${pad('train msg/s', 12)}`);
  for (const r of rows) {
    console.log(`  ${r.who.padEnd(10)} ${pad(f3(r.fig.hamAsSpam), 11)} ${pad(f2(r.fig.spamCaught), 14)} ${pad(f3(r.fig.oneMinusRoca), 9)} ${pad(f2(r.fig.spamAtHam01), 15)} ${pad(r.scoreRate.toFixed(0), 12)} ${pad(r.trainRate.toFixed(0), 12)}`);
  }
  if (rows.length === 2) {
    const [a, b] = rows;
    console.log(`  ratios mailmoat/bogofilter: scoring ×${(a.scoreRate / b.scoreRate).toFixed(2)}, training ×${(a.trainRate / b.trainRate).toFixed(2)}, 1-ROCA ×${(a.fig.oneMinusRoca / Math.max(b.fig.oneMinusRoca, 1e-9)).toFixed(2)}`);
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(corpusDir)) throw new Error(`corpus not found at ${corpusDir} (use --corpus DIR)`);
  if (!skipBogo) ensureCommands({ bogofilter: 'bogofilter' });
  const all = loadCorpus(corpusDir);
  const { train, test } = splitCorpus(all, trainPercent);
  const count = (ms: CorpusMessage[], spam: boolean) => ms.filter((m) => m.spam === spam).length;
  console.log(`corpus ${corpusDir}: ${all.length} messages; split by SHA-1 of set/name, ${trainPercent}% train`);
  console.log(`  train ${count(train, false)} ham + ${count(train, true)} spam; test ${count(test, false)} ham + ${count(test, true)} spam; spam cutoff ${cutoff} for both filters`);
  const views: Array<[string, (m: CorpusMessage) => Buffer]> = [
    ['as distributed (X-Spam-* headers kept)', (m) => m.raw],
    ['X-Spam-* headers stripped', (m) => stripSpamHeaders(m.raw)],
  ];
  for (const [n, [label, view]] of views.entries()) {
    console.log(`\n${label}`);
    const our = ours(train, test, view, n === 0);
    const rows: Row[] = [our];
    if (!skipBogo) {
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bogo-'));
      try {
        const b = await runBogofilter(work, train, test, view);
        rows.push({ who: 'bogofilter', fig: figures(b.results, cutoff), trainRate: train.length / b.trainSeconds, scoreRate: test.length / b.scoreSeconds });
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    }
    printRows(rows);
    const p = our.plain;
    const r = our.reinforced;
    console.log(`  mailmoat training: plain pass ${our.plainTrainRate.toFixed(0)} msg/s, reinforcement pass ${r.rate.toFixed(0)} msg/s (learned again ${r.spam} spam and ${r.ham} ham of ${r.checked})`);
    console.log('  mailmoat before the reinforcement pass: ' +
      `${f3(p.hamAsSpam)} / ${f2(p.spamCaught)} / ${f3(p.oneMinusRoca)} / ${f2(p.spamAtHam01)} (ham→spam % / spam caught % / 1-ROCA % / caught@0.1%ham)`);
    console.log('  mailmoat per set (ham→spam % / spam caught % / 1-ROCA %):');
    for (const [set, f] of our.bySet) console.log(`    ${set.padEnd(13)} ${f3(f.hamAsSpam)} / ${f2(f.spamCaught)} / ${f3(f.oneMinusRoca)}   (${f.ham} ham, ${f.spam} spam)`);
    if (our.modes.size) console.log('  mailmoat calculation modes (ham→spam % / spam caught % / 1-ROCA % / caught@0.1%ham):');
    for (const [mode, f] of our.modes) console.log(`    ${mode.padEnd(13)} ${f3(f.hamAsSpam)} / ${f2(f.spamCaught)} / ${f3(f.oneMinusRoca)} / ${f2(f.spamAtHam01)}`);
  }
  console.log('\nscore msg/s: one core, messages already in memory (bogofilter reads its test files from the page cache).');
  console.log('train msg/s: parse + tokenize + count, one core; Mailmoat\'s both passes, as `moat bayes create` runs them; bogofilter registers from one mbox per class.');
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
