// `npm run eval:bayes`: trains Mailmoat's Bayes filter and bogofilter on the same deterministic part of the
// shared corpus, tests both on the rest, with and without X-Spam-* headers stripped, and prints them side by side.
// With `--crm114`, CRM114's OSB classifier joins them (accuracy only). Each also runs as its users would with a
// dictionary per recipient, each set of the corpus being one user's mailbox: rows `mailmoat+set` and `bogofilter/set`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { rankKey, DEFAULT_SCORING, type ScoringOptions } from '../../plugins/bayes/engine/classify.ts';
import { LearnedTokens } from '../../plugins/bayes/engine/learned-tokens.ts';
import { SeenMessages } from '../../plugins/bayes/engine/seen-messages.ts';
import { runPasses, type PassName, type PassesResult } from '../../plugins/bayes/engine/passes.ts';
import { saveDictionary } from '../../plugins/bayes/engine/persist.ts';
import { DEFAULT_CORPUS, firstCopies, loadCorpus, splitCorpus, stripSpamHeaders, type CorpusMessage } from './corpus.ts';
import { figures, spamCaughtInterval, type Figures, type Scored } from './metrics.ts';
import { BogofilterRun, ensurePeer } from './bogofilter.ts';
import { runCrm114 } from './crm114.ts';
import { DEFAULT_PER_SET_WEIGHT, groupBySet, scoredWithOwn } from './per-set.ts';
import { readCommand, USAGE_ERROR } from '../cli/args.ts';

const usage = `usage: npm run eval:bayes -- [--corpus DIR] [--train PERCENT] [--cutoff P] [--runs N] [--no-bogofilter] [--crm114]
  --corpus DIR     spam/ham corpus (default ../shared/corpus): SET/ham/* and SET/spam/*, one message per file
  --train PERCENT  share of the files trained on, chosen by a hash of each set and name, a copy going with its
                   first copy (default 60); the rest is tested
  --cutoff P       spam probability at or above which a message counts as spam, for both filters (default 0.9)
  --runs N         timed runs of each filter's training and scoring, medians reported (default 3)
  --no-bogofilter  leave bogofilter out (otherwise Debian's bogofilter is installed when missing, as root)
  --crm114         add CRM114's OSB classifier (accuracy only; about 15 minutes more)`;
const line = readCommand(process.argv.slice(2), {
  corpus: { type: 'string', default: DEFAULT_CORPUS },
  train: { type: 'string', default: '60' },
  cutoff: { type: 'string', default: '0.9' },
  runs: { type: 'string', default: '3' },
  'no-bogofilter': { type: 'boolean', default: false },
  crm114: { type: 'boolean', default: false },
}, usage);
if (typeof line === 'number') process.exit(line);
if (line.positionals.length) usageError(`unexpected argument ${line.positionals[0]}`);
const corpusDir = path.resolve(line.values.corpus);
const trainPercent = Number(line.values.train);
const cutoff = Number(line.values.cutoff);
const skipBogo = line.values['no-bogofilter'];
const withCrm = line.values.crm114;
// The machine's speed swings by tens of percent from one moment to the next, so every timed part runs several
// times, Mailmoat's and bogofilter's runs taking turns, and each rate is reported as the median with its range.
const runs = Number(line.values.runs);
// A number that does not parse would give a split or a cutoff that silently means nothing (NaN trains on no file).
if (!Number.isInteger(trainPercent) || trainPercent < 1 || trainPercent > 99) usageError('--train must be a whole number from 1 to 99');
if (!(cutoff > 0 && cutoff <= 1)) usageError('--cutoff must be a probability above 0, at most 1');
if (!Number.isInteger(runs) || runs < 1) usageError('--runs must be a whole number ≥ 1');

function usageError(why: string): never {
  console.error(`${why}\n\n${usage}`);
  process.exit(USAGE_ERROR);
}

/** A rate measured over the runs. */
interface Rate { median: number; min: number; max: number }

function rate(values: number[]): Rate {
  const v = [...values].sort((x, y) => x - y);
  const mid = v.length >> 1;
  return { median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, min: v[0], max: v[v.length - 1] };
}

const showRate = (r: Rate) => (r.min === r.max ? r.median.toFixed(0) : `${r.median.toFixed(0)} (${r.min.toFixed(0)}–${r.max.toFixed(0)})`);

/** A filter's figures; no rates for a peer whose time is not comparable (CRM114 starts a process per message). */
interface Row { who: string; fig: Figures; results: Scored[]; trainRate?: Rate; scoreRate?: Rate; perSet?: boolean }

interface OurTraining {
  filter: BayesFilter;
  /** After the plain pass, after reinforcement, and after the linear pass, before the byte model's (when asked for). */
  plain?: Figures;
  reinforced?: Figures;
  weighted?: Figures;
  /** Seconds spent learning (the plain pass). */
  learnSeconds: number;
  /** The three passes after it, each with its seconds. */
  passes: Required<PassesResult>;
  /** Seconds spent writing the dictionary, when asked to. */
  writeSeconds: number;
  /** Copies of messages already learned, passed over as `moat bayes create` does. */
  duplicates: { spam: number; ham: number };
}

function scoreAll(filter: BayesFilter, test: CorpusMessage[], testViews: Buffer[]): Scored[] {
  return testViews.map((raw, i) => {
    const s = filter.score(raw);
    return { spam: test[i].spam, p: s.probability, tie: rankKey(s) };
  });
}

/**
 * The four passes of training, timed, into a new filter; with `test`, the figures after each of the first three are
 * taken in between (untimed); with `save`, the dictionary is then written to that file, timed, as `moat bayes create`
 * ends: bogofilter's registering, timed beside it, ends with its wordlist written too.
 */
async function trainOurs(train: CorpusMessage[], trainViews: Buffer[], test?: { msgs: CorpusMessage[]; views: Buffer[] }, keepDuplicates = false, save?: string): Promise<OurTraining> {
  const filter = new BayesFilter();
  const learned = new LearnedTokens();
  const samples = filter.byteSamples();
  const t0 = performance.now();
  const seen = keepDuplicates ? undefined : new SeenMessages();
  for (let i = 0; i < train.length; i++) filter.learn(trainViews[i], train[i].spam, { record: learned, samples, seen });
  const learnSeconds = (performance.now() - t0) / 1000;
  // The figures after each pass but the last, taken outside the passes' time.
  const after: Partial<Record<PassName | 'plain', Figures>> = {};
  const take = (when: PassName | 'plain') => { if (test && when !== 'byteGrams') after[when] = figures(scoreAll(filter, test.msgs, test.views), cutoff); };
  take('plain');
  const { reinforced, linear, byteGrams } = runPasses(filter, learned, samples, { afterPass: take });
  if (!reinforced || !linear || !byteGrams) throw new Error('a pass of training did not run');
  const t1 = performance.now();
  if (save) await saveDictionary(save, filter.dict);
  const writeSeconds = (performance.now() - t1) / 1000;
  return { filter, plain: after.plain, reinforced: after.reinforce, weighted: after.linear, learnSeconds, passes: { reinforced, linear, byteGrams }, writeSeconds, duplicates: seen?.duplicates ?? { spam: 0, ham: 0 } };
}

/** The same dictionary's figures with some scoring options changed (the filter's own options are put back). */
function figuresWith(filter: BayesFilter, changed: Partial<ScoringOptions>, test: CorpusMessage[], testViews: Buffer[]): Figures {
  filter.scoring = { ...DEFAULT_SCORING, ...changed };
  try {
    return figures(scoreAll(filter, test, testViews), cutoff);
  } finally {
    filter.scoring = DEFAULT_SCORING;
  }
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

function printRows(rows: Row[]): void {
  console.log(`  ${'filter'.padEnd(10)} ${pad('ham→spam %', 11)} ${pad('spam caught %', 14)} ${pad('1-ROCA %', 9)} ${pad('caught@0.1%ham', 15)} ${pad('score msg/s', 12)} ${pad('train msg/s', 12)}`);
  for (const r of rows) {
    const median = (x?: Rate) => (x ? x.median.toFixed(0) : '–');
    // A name longer than its column (mailmoat+set) takes its room from the next one, so the figures stay in line.
    const overflow = Math.max(0, r.who.length - 10);
    console.log(`  ${r.who.padEnd(10)} ${pad(f3(r.fig.hamAsSpam), 11 - overflow)} ${pad(f2(r.fig.spamCaught), 14)} ${pad(f3(r.fig.oneMinusRoca), 9)} ${pad(f2(r.fig.spamAtHam01), 15)} ${pad(median(r.scoreRate), 12)} ${pad(median(r.trainRate), 12)}`);
  }
  const intervals = rows.filter((r) => !r.perSet).map((r) => `${r.who} ${spamCaughtInterval(r.results, 0.001).map(f2).join('–')}`);
  console.log(`  caught@0.1%ham, middle 95% of 1,000 bootstrap draws of the test part: ${intervals.join(', ')}`);
  const [a, b] = [rows[0], rows.find((r) => r.who === 'bogofilter')];
  if (b?.scoreRate && b.trainRate && a.scoreRate && a.trainRate) {
    console.log(`  ratios mailmoat/bogofilter (medians): scoring ×${(a.scoreRate.median / b.scoreRate.median).toFixed(2)}, training ×${(a.trainRate.median / b.trainRate.median).toFixed(2)}, 1-ROCA ×${(a.fig.oneMinusRoca / Math.max(b.fig.oneMinusRoca, 1e-9)).toFixed(2)}`);
  }
  const perSet = rows.filter((r) => r.perSet);
  if (!perSet.length) return;
  console.log(`  the same, with a dictionary per set: ${perSet.map((r) => `${r.who} ${spamCaughtInterval(r.results, 0.001).map(f2).join('–')}`).join(', ')}`);
  const ratio = (x: number, y: number) => `×${(x / Math.max(y, 1e-9)).toFixed(2)}`;
  const [ownA, ownB] = [rows.find((r) => r.who === 'mailmoat+set'), rows.find((r) => r.who === 'bogofilter/set')];
  const parts: string[] = [];
  if (ownA?.scoreRate && a.scoreRate) parts.push(`mailmoat+set/mailmoat: scoring ${ratio(ownA.scoreRate.median, a.scoreRate.median)}, 1-ROCA ${ratio(ownA.fig.oneMinusRoca, a.fig.oneMinusRoca)}`);
  if (ownA && ownB) parts.push(`mailmoat+set/bogofilter/set: 1-ROCA ${ratio(ownA.fig.oneMinusRoca, ownB.fig.oneMinusRoca)}`);
  if (b && ownB) parts.push(`bogofilter/set/bogofilter: 1-ROCA ${ratio(ownB.fig.oneMinusRoca, b.fig.oneMinusRoca)}`);
  if (parts.length) console.log(`  ratios with a dictionary per set: ${parts.join('; ')}`);
}

/** One dictionary per set, each trained on that set's training messages as the shared one is, and its seconds. */
async function trainPerSet(train: CorpusMessage[], trainViews: Buffer[], dir: string): Promise<{ own: Map<string, BayesFilter>; seconds: number }> {
  const own = new Map<string, BayesFilter>();
  let seconds = 0;
  const indexed = train.map((m, i) => ({ set: m.set, m, raw: trainViews[i] }));
  for (const [set, part] of groupBySet(indexed)) {
    const t = await trainOurs(part.map((x) => x.m), part.map((x) => x.raw), undefined, false, path.join(dir, `${set}.tab`));
    const { reinforced, linear, byteGrams } = t.passes;
    seconds += t.learnSeconds + reinforced.seconds + linear.seconds + byteGrams.seconds + t.writeSeconds;
    own.set(set, t.filter);
  }
  return { own, seconds };
}

/**
 * bogofilter with a wordlist per set, each trained on that set's training part and scoring that set's test part:
 * its figures, and the seconds of all trainings and all scorings (one run). Undefined when a tested set has no
 * training messages, since bogofilter has no shared wordlist to fall back on.
 */
async function bogofilterPerSet(workDir: string, train: CorpusMessage[], test: CorpusMessage[], view: (m: CorpusMessage) => Buffer): Promise<{ results: Scored[]; trainSeconds: number; scoreSeconds: number } | undefined> {
  const trainSets = groupBySet(train);
  const testSets = groupBySet(test.map((m, i) => ({ set: m.set, m, i })));
  if ([...testSets.keys()].some((set) => !trainSets.has(set))) return undefined;
  const results = new Array<Scored>(test.length);
  let trainSeconds = 0;
  let scoreSeconds = 0;
  for (const [set, part] of testSets) {
    const dir = path.join(workDir, `set-${set}`);
    fs.mkdirSync(dir);
    const run = new BogofilterRun(dir, trainSets.get(set)!, part.map((x) => x.m), view);
    trainSeconds += await run.train();
    const scored = await run.score();
    scoreSeconds += scored.seconds;
    scored.results.forEach((r, k) => { results[part[k].i] = r; });
  }
  return { results, trainSeconds, scoreSeconds };
}

/** Trains and tests both filters on one view of the corpus, `runs` timed runs each, and prints their figures. */
async function evaluateView(train: CorpusMessage[], test: CorpusMessage[], view: (m: CorpusMessage) => Buffer, bogo: BogofilterRun | undefined, bogoDir: string | undefined, crmDir: string | undefined, withModes: boolean, dictFile: string): Promise<void> {
  const trainViews = train.map(view);
  const testViews = test.map(view);
  const timed = { train: [] as number[], unwritten: [] as number[], write: [] as number[], plain: [] as number[], again: [] as number[], linear: [] as number[], bytes: [] as number[], score: [] as number[], setScore: [] as number[], bogoTrain: [] as number[], bogoScore: [] as number[] };
  let ours!: OurTraining;
  for (let r = 0; r < runs; r++) {
    const last = r === runs - 1;
    const t = await trainOurs(train, trainViews, last ? { msgs: test, views: testViews } : undefined, false, dictFile);
    // Training is deterministic: every run must build the same dictionary.
    if (r > 0 && (t.filter.dict.size !== ours.filter.dict.size || t.filter.dict.nspam !== ours.filter.dict.nspam)) throw new Error('training runs built different dictionaries');
    ours = t;
    const { reinforced, linear, byteGrams } = t.passes;
    const passesSeconds = t.learnSeconds + reinforced.seconds + linear.seconds + byteGrams.seconds;
    timed.train.push(train.length / (passesSeconds + t.writeSeconds));
    timed.unwritten.push(train.length / passesSeconds);
    timed.write.push(t.writeSeconds);
    timed.plain.push(train.length / t.learnSeconds);
    timed.again.push(reinforced.checked / reinforced.seconds);
    timed.linear.push(train.length / linear.seconds);
    timed.bytes.push(train.length / byteGrams.seconds);
    if (bogo) timed.bogoTrain.push(train.length / await bogo.train());
  }
  // The per-set dictionaries are trained once, after the shared one's timed runs: their time is extra to it.
  const perSet = await trainPerSet(train, trainViews, path.dirname(dictFile));
  let results: Scored[] = [];
  let setResults: Scored[] = [];
  let bogoResults: Scored[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    results = scoreAll(ours.filter, test, testViews);
    timed.score.push(test.length / ((performance.now() - t0) / 1000));
    // A recipient with a dictionary of their own: each message scored by both dictionaries, timed as a whole.
    const t1 = performance.now();
    setResults = test.map((m, i) => scoredWithOwn(m.spam, ours.filter.score(testViews[i]), perSet.own.get(m.set)?.score(testViews[i]), DEFAULT_PER_SET_WEIGHT));
    timed.setScore.push(test.length / ((performance.now() - t1) / 1000));
    if (bogo) {
      const b = await bogo.score();
      bogoResults = b.results;
      timed.bogoScore.push(test.length / b.seconds);
    }
  }
  const setTrainRate = rate([train.length / perSet.seconds]);
  const rows: Row[] = [
    { who: 'mailmoat', fig: figures(results, cutoff), results, trainRate: rate(timed.train), scoreRate: rate(timed.score) },
    { who: 'mailmoat+set', fig: figures(setResults, cutoff), results: setResults, trainRate: setTrainRate, scoreRate: rate(timed.setScore), perSet: true },
  ];
  if (bogo) rows.push({ who: 'bogofilter', fig: figures(bogoResults, cutoff), results: bogoResults, trainRate: rate(timed.bogoTrain), scoreRate: rate(timed.bogoScore) });
  const bogoSets = bogoDir ? await bogofilterPerSet(bogoDir, train, test, view) : undefined;
  if (bogoSets) {
    rows.push({
      who: 'bogofilter/set', fig: figures(bogoSets.results, cutoff), results: bogoSets.results, perSet: true,
      trainRate: rate([train.length / bogoSets.trainSeconds]), scoreRate: rate([test.length / bogoSets.scoreSeconds]),
    });
  }
  if (crmDir) {
    const crmResults = await runCrm114(crmDir, train, test, view);
    rows.push({ who: 'crm114', fig: figures(crmResults, cutoff), results: crmResults });
  }
  printRows(rows);
  if (bogo) {
    // The table holds both filters to one cutoff; this is the one bogofilter's users get.
    const f = figures(bogoResults, bogo.ownCutoff);
    console.log(`  bogofilter at its own spam_cutoff ${bogo.ownCutoff}: ham→spam ${f3(f.hamAsSpam)} %, spam caught ${f2(f.spamCaught)} %`);
    if (bogoSets) {
      const g = figures(bogoSets.results, bogo.ownCutoff);
      console.log(`  bogofilter/set at its own spam_cutoff ${bogo.ownCutoff}: ham→spam ${f3(g.hamAsSpam)} %, spam caught ${f2(g.spamCaught)} %`);
    } else {
      console.log('  bogofilter/set left out: a set of the test part has no training messages, so no wordlist of its own');
    }
  }
  console.log(`  msg/s${runs > 1 ? ` over ${runs} runs, median (range)` : ''}: mailmoat training ${showRate(rate(timed.train))} (without writing the dictionary ${showRate(rate(timed.unwritten))}, writing it took ${rate(timed.write).median.toFixed(2)} s; plain pass ${showRate(rate(timed.plain))}, reinforcement pass ${showRate(rate(timed.again))}, linear pass ${showRate(rate(timed.linear))}, byte model's pass ${showRate(rate(timed.bytes))}), scoring ${showRate(rate(timed.score))}` +
    (bogo ? `; bogofilter training ${showRate(rate(timed.bogoTrain))}, scoring ${showRate(rate(timed.bogoScore))}` : ''));
  console.log(`  msg/s with a dictionary per set: mailmoat+set scoring ${showRate(rate(timed.setScore))} (both dictionaries per message), training the ${perSet.own.size} set dictionaries ${showRate(setTrainRate)} (once, extra to the shared one's)` +
    (bogoSets ? `; bogofilter/set training ${showRate(rate([train.length / bogoSets.trainSeconds]))}, scoring ${showRate(rate([test.length / bogoSets.scoreSeconds]))} (once)` : ''));
  const r = ours.passes.reinforced;
  const copies = ours.duplicates;
  console.log(`  mailmoat training: ${copies.spam} spam and ${copies.ham} ham copies of messages already learned passed over; the reinforcement pass learned again ${r.spam} spam and ${r.ham} ham of ${r.checked}`);
  const show = (f: Figures) => `${f3(f.hamAsSpam)} / ${f2(f.spamCaught)} / ${f3(f.oneMinusRoca)} / ${f2(f.spamAtHam01)} (ham→spam % / spam caught % / 1-ROCA % / caught@0.1%ham)`;
  console.log(`  mailmoat before the reinforcement pass: ${show(ours.plain!)}`);
  console.log(`  mailmoat before the linear pass:        ${show(ours.reinforced!)}`);
  console.log(`  mailmoat before the byte model:         ${show(ours.weighted!)}`);
  console.log(`  mailmoat without the logit cap:         ${show(figuresWith(ours.filter, { logitCap: 0 }, test, testViews))}`);
  console.log(`  mailmoat learning every copy:           ${show(figures(scoreAll((await trainOurs(train, trainViews, undefined, true)).filter, test, testViews), cutoff))}`);
  console.log('  mailmoat per set (ham→spam % / spam caught % / 1-ROCA %):');
  for (const set of new Set(test.map((m) => m.set))) {
    const f = figures(results.filter((_r, i) => test[i].set === set), cutoff);
    console.log(`    ${set.padEnd(13)} ${f3(f.hamAsSpam)} / ${f2(f.spamCaught)} / ${f3(f.oneMinusRoca)}   (${f.ham} ham, ${f.spam} spam)`);
  }
  console.log('  mailmoat+set per set (ham→spam % / spam caught % / 1-ROCA % / caught@0.1%ham):');
  for (const set of new Set(test.map((m) => m.set))) {
    const f = figures(setResults.filter((_r, i) => test[i].set === set), cutoff);
    console.log(`    ${set.padEnd(13)} ${f3(f.hamAsSpam)} / ${f2(f.spamCaught)} / ${f3(f.oneMinusRoca)} / ${f2(f.spamAtHam01)}   (${f.ham} ham, ${f.spam} spam)`);
  }
  if (withModes) {
    console.log('  mailmoat calculation modes (ham→spam % / spam caught % / 1-ROCA % / caught@0.1%ham):');
    // MailEnable's other two calculation methods, on the same dictionary.
    for (const mode of ['frequent', 'extreme'] as const) {
      const f = figuresWith(ours.filter, { mode }, test, testViews);
      console.log(`    ${mode.padEnd(13)} ${f3(f.hamAsSpam)} / ${f2(f.spamCaught)} / ${f3(f.oneMinusRoca)} / ${f2(f.spamAtHam01)}`);
    }
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(corpusDir)) throw new Error(`corpus not found at ${corpusDir} (use --corpus DIR)`);
  if (!skipBogo) ensurePeer('bogofilter', 'bogofilter', 'run with --no-bogofilter');
  if (withCrm) ensurePeer('crm', 'crm114', 'leave out --crm114');
  const all = loadCorpus(corpusDir);
  const { train, test } = splitCorpus(all, trainPercent);
  const count = (ms: CorpusMessage[], spam: boolean) => ms.filter((m) => m.spam === spam).length;
  const copies = [...firstCopies(all)].filter(([m, first]) => m !== first).length;
  console.log(`corpus ${corpusDir}: ${all.length} messages; split by SHA-1 of set/name, ${trainPercent}% train; ${copies} files are byte-for-byte copies of another, each on its first copy's side`);
  console.log(`  train ${count(train, false)} ham + ${count(train, true)} spam; test ${count(test, false)} ham + ${count(test, true)} spam; spam cutoff ${cutoff} for both filters`);
  const views: Array<[string, (m: CorpusMessage) => Buffer]> = [
    ['as distributed (X-Spam-* headers kept)', (m) => m.raw],
    ['X-Spam-* headers stripped', (m) => stripSpamHeaders(m.raw)],
  ];
  for (const [n, [label, view]] of views.entries()) {
    console.log(`\n${label}`);
    const work = skipBogo ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-bogo-'));
    const crmDir = withCrm ? fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-crm114-')) : undefined;
    const ourDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailmoat-eval-'));
    try {
      await evaluateView(train, test, view, work ? new BogofilterRun(work, train, test, view) : undefined, work, crmDir, n === 0, path.join(ourDir, 'dictionary.tab'));
    } finally {
      for (const dir of [work, crmDir, ourDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log('\nscore msg/s: one core, messages already in memory (bogofilter reads its test files from the page cache).');
  console.log('train msg/s: parse + tokenize + count, one core, until the dictionary is on disk; Mailmoat\'s four passes, as `moat bayes create` runs them, then its TAB file written; bogofilter registers from one mbox per class into its wordlist.');
  console.log(`mailmoat+set: the shared dictionary and the set's own (each set is one user's mailbox, its own dictionary trained on that set's training part with the same four passes), their logits averaged as the plugin averages a recipient's (weight ${DEFAULT_PER_SET_WEIGHT} against the shared one's 1); its score msg/s is both dictionaries per message, its train msg/s the training messages over the seconds of all the set dictionaries' trainings (their passes and writes, run once), which come on top of the shared dictionary's.`);
  if (!skipBogo) console.log('bogofilter/set: a wordlist per set alone, trained on that set\'s training part and scoring its test part (bogofilter has no shared and own wordlists combined); msg/s from one run, its scoring one bogofilter process per set.');
  if (withCrm) console.log('crm114: OSB classifier, every training message learned once; its pR (10·log10 of the odds) read as a probability for the same cutoff; one process per message, so not timed.');
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
