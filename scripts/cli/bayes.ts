// `moat bayes create|merge|learn-spam|learn-ham|verify|score|prune|reload|stats|export|import`: trains and inspects
// Bayes dictionaries.
// Every write goes through the dictionary's lock and an atomic replace, so it is safe while gateways run.
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_OPTIONS, fileSystemPath, readCommand, USAGE_ERROR } from './args.ts';
import { Dictionary } from '../../plugins/bayes/engine/dictionary.ts';
import { BayesFilter } from '../../plugins/bayes/engine/filter.ts';
import { DEFAULT_SCORING, tokenProbability, type CalculationMode } from '../../plugins/bayes/engine/classify.ts';
import { loadDictionary, noticeStaleLocks, removeHeldFilesSync, saveDictionary, updateDictionary, withLock, writeFileAtomic } from '../../plugins/bayes/engine/persist.ts';
import { deserialize, formatIn, formatOf, serialize, type DictFormat, type Malformed, type ReadReport } from '../../plugins/bayes/engine/formats.ts';
import { prune } from '../../plugins/bayes/engine/prune.ts';
import { DEFAULT_REINFORCE } from '../../plugins/bayes/engine/reinforce.ts';
import { PREFIX_BYTES } from '../../plugins/bayes/engine/byte-grams.ts';
import { requestReload } from '../../plugins/bayes/reload-request.ts';
import { DEFAULT_BANDS } from '../../plugins/bayes/config.ts';
import { describeSkipped, listSources, readMessages, sharedPlace, type ReachedPlaces, type SkippedFile } from '../bayes/mail-folders.ts';
import { trainFolders, type ListedFolders } from '../bayes/train.ts';
import { Progress } from '../bayes/progress.ts';

const USAGE = `usage: moat bayes <command> [options]

  create DICT SPAMDIR HAMDIR     build a new dictionary from folders of spam and ham (replaces DICT)
  merge DICT SPAMDIR HAMDIR      add folders of spam and ham to DICT
  merge --config FILE SPAMDIR HAMDIR
                                 teach them to the counts the config's gateways share through Redis: every
                                 gateway on it scores with them after its next sync (use this with several gateways)
  learn-spam DICT DIR            add a folder of spam alone to DICT, as merge does (rspamc learn_spam)
  learn-ham DICT DIR             add a folder of ham alone to DICT (rspamc learn_ham)
  learn-spam|learn-ham --config FILE DIR
                                 teach one folder to the shared counts, as merge --config does
  verify DICT DIR                probability of every message in DIR, then a summary
  score DICT FILE                probability of one message, with its most telling tokens
  prune DICT                     drop rare and neutral tokens [--min-count 2] [--neutral 0.1] [--max-tokens N]
  reload                         tell running gateways to reload their dictionaries [--config FILE [--set KEY=VALUE]… | --data-dir DIR]
  stats DICT                     message and token counts, strongest tokens [--config FILE: with the shared
                                 counts in Redis and what the gateways score with; DICT may then be left out]
  export DICT FILE               write DICT as FILE [--format tab|xml] [--with-weights: TAB with the linear
                                 models, as Mailmoat keeps it; without, MailEnable's three fields]
  import DICT FILE               replace DICT with FILE, read in the format it holds [--format tab|xml: must
                                 be that one] [--merge: add to DICT instead]

A DIR holds one message per file (.eml, .mai, any name), Maildirs, or mbox files, searched recursively;
it may also be a single message file or mbox. DICT ending in .xml is MailEnable XML, anything else MailEnable TAB.
Progress bars go to stderr when it is a terminal, except with --json and for verify printing to a terminal.
Options: --json (one JSON object per line on stdout, nothing else there), --mode all|frequent|extreme,
         --cutoff P (verify: spam at or above, default 0.9),
         --no-bigrams, --no-html (must match how the dictionary is used by the gateway),
         --no-reinforce (create/merge/learn-*: skip the second pass that learns again each message misjudged when scored
         without its own counts, a spam ${DEFAULT_REINFORCE.spamTimes} and a ham ${DEFAULT_REINFORCE.hamTimes} more times: faster, less accurate).
         --no-linear (create/merge/learn-*: skip the pass that fits the linear model's token weights, kept as a fourth
         column of a TAB dictionary, which scoring adds to the Bayesian probability: faster, less accurate).
         --no-byte-grams (create/merge/learn-*: skip the pass that fits the byte model, a linear model over the 4-byte
         sequences of each message's first ${PREFIX_BYTES} bytes, kept on the second line of a TAB dictionary, after the
         message counts, the file then ending with a line '#end <token lines>': faster, less accurate).
         --keep-duplicates (create/merge/learn-*: learn every copy of a message; by default a copy, the same class and the same
         tokens as a message learned before in the run, is passed over and counted).
Exit code: 0 done, 1 failed, 64 usage error.`;

class UsageError extends Error {}

type Opts = Record<string, string | boolean | undefined>;

const TOKENIZING = ['no-bigrams', 'no-html'];
const SCORING = ['mode', ...TOKENIZING];
/**
 * Each command's arguments (its usage line, and how many) and the options that mean something to it (--json to
 * every one): an option or an argument a command would ignore is refused, since `score DICT *.eml` would
 * otherwise score the first file alone and `create --cutoff 0.5` would look as if it had done something.
 */
const COMMANDS: Record<string, { args: string[]; options: string[] }> = {
  create: { args: ['DICT', 'SPAMDIR', 'HAMDIR'], options: [...TOKENIZING, 'no-reinforce', 'no-linear', 'no-byte-grams', 'keep-duplicates'] },
  merge: { args: ['DICT', 'SPAMDIR', 'HAMDIR'], options: [...TOKENIZING, 'no-reinforce', 'no-linear', 'no-byte-grams', 'keep-duplicates'] },
  'learn-spam': { args: ['DICT', 'DIR'], options: [...TOKENIZING, 'no-reinforce', 'no-linear', 'no-byte-grams', 'keep-duplicates'] },
  'learn-ham': { args: ['DICT', 'DIR'], options: [...TOKENIZING, 'no-reinforce', 'no-linear', 'no-byte-grams', 'keep-duplicates'] },
  verify: { args: ['DICT', 'DIR'], options: [...SCORING, 'cutoff'] },
  score: { args: ['DICT', 'FILE'], options: SCORING },
  prune: { args: ['DICT'], options: ['min-count', 'neutral', 'max-tokens'] },
  reload: { args: [], options: ['config', 'set', 'data-dir'] },
  stats: { args: ['DICT'], options: [] },
  export: { args: ['DICT', 'FILE'], options: ['format', 'with-weights'] },
  import: { args: ['DICT', 'FILE'], options: ['format', 'merge'] },
};

/**
 * The forms of commands with `--config`, which read the shared counts of the config's gateways (bayes-shared.ts):
 * a merge into them takes no DICT, and takes its tokenizer options from the config; stats may leave DICT out.
 */
const SHARED_FORMS: Record<string, { args: string[]; options: string[]; optional?: number }> = {
  merge: { args: ['SPAMDIR', 'HAMDIR'], options: ['config', 'set', 'keep-duplicates'] },
  'learn-spam': { args: ['DIR'], options: ['config', 'set', 'keep-duplicates'] },
  'learn-ham': { args: ['DIR'], options: ['config', 'set', 'keep-duplicates'] },
  stats: { args: ['DICT'], options: ['config', 'set'], optional: 1 },
};

/** Refuses a command line with missing or extra arguments, or an option the command does not take. */
function checkCommandLine(cmd: string, pos: string[], o: Opts): void {
  const c: { args: string[]; options: string[]; optional?: number } | undefined = o.config !== undefined && SHARED_FORMS[cmd] ? SHARED_FORMS[cmd] : COMMANDS[cmd];
  if (!c) throw new UsageError(`unknown command ${cmd}`);
  if (pos.length < c.args.length - (c.optional ?? 0)) throw new UsageError(`${cmd} needs ${c.args.join(' ')}`);
  if (pos.length > c.args.length) throw new UsageError(`${cmd} takes ${c.args.length ? c.args.join(' ') : 'no arguments'}; unexpected: ${pos.slice(c.args.length).join(' ')}`);
  for (const name of Object.keys(o)) {
    if (o[name] !== undefined && name !== 'json' && !c.options.includes(name)) throw new UsageError(`--${name} does not apply to ${cmd}`);
  }
}

/** --mode, checked before a dictionary is read: a typo should not wait for a large file to load first. */
function modeOpt(o: Opts): CalculationMode {
  const mode = (o.mode as CalculationMode | undefined) ?? 'all';
  if (!['all', 'frequent', 'extreme'].includes(mode)) throw new UsageError(`--mode must be all, frequent or extreme`);
  return mode;
}

function filterFor(dict: Dictionary, o: Opts, mode: CalculationMode): BayesFilter {
  return new BayesFilter(dict, { bigrams: !o['no-bigrams'], processHtml: !o['no-html'] }, { ...DEFAULT_SCORING, mode });
}

/** A numeric option, or a usage error saying what it must be: a typo must not become NaN and a silent no-op. */
function numberOpt(o: Opts, name: string, fallback: number, range: { min: number; max: number; whole?: boolean; belowMax?: boolean }): number {
  const raw = o[name];
  if (raw === undefined) return fallback;
  const x = Number(raw);
  const over = range.belowMax ? x >= range.max : x > range.max;
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(x) || x < range.min || over || (range.whole && !Number.isInteger(x))) {
    const span = range.max === Infinity ? `, ${range.min} or more` : range.belowMax ? `, at least ${range.min} and below ${range.max}` : ` from ${range.min} to ${range.max}`;
    throw new UsageError(`--${name} must be ${range.whole ? 'a whole number' : 'a number'}${span}`);
  }
  return x;
}

function formatOpt(o: Opts, file: string): DictFormat {
  const f = (o.format as string | undefined) ?? (file.toLowerCase().endsWith('.xml') ? 'xml' : 'tab');
  if (f !== 'tab' && f !== 'xml') throw new UsageError('--format must be tab or xml');
  return f;
}

function out(o: Opts, json: unknown, text: string): void {
  console.log(o.json ? JSON.stringify(json) : text);
}

/** "1 token", "3 tokens". */
function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Tokens a file of `d` holds: those with a count. A foreign file's `token 0 0` line is read into the dictionary but
 * never written back, so counting it would report a token that is not there.
 */
function heldTokens(d: Dictionary): number {
  const { spam, ham } = d.countsByIds();
  let n = 0;
  for (let i = 0; i < spam.length; i++) if (spam[i] || ham[i]) n++;
  return n;
}

/** `err` as it should reach the admin: named after `file` unless it names it already (Node's errors name a path). */
function naming(file: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  return e.message.includes(file) ? e : new Error(`${file}: ${e.message}`);
}

/**
 * Fails with one line when `file`, named on the command line (as `shown`) as a file to read, is missing, or is a
 * folder (then with `ifFolder`): Node's EISDIR on reading a folder names no path, so the admin would not know which
 * argument was wrong.
 */
function checkReadableFile(file: string | Buffer, shown: string, ifFolder: string): void {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) throw new Error(`${shown} does not exist`);
  if (st.isDirectory()) throw new Error(ifFolder);
}

/**
 * Runs `write` (which takes a dictionary's lock or writes a temporary file) so that Ctrl-C or SIGTERM meanwhile
 * removes that lock and file before exiting 130 or 143: killed outright, it left `DICT.lock` behind, and every later
 * writer waited on it. Only around the writing, since a handler would keep Ctrl-C from stopping the learning, which
 * holds the event loop for minutes; nothing of ours is on disk then.
 */
async function whileWriting<T>(cmd: string, write: () => Promise<T>): Promise<T> {
  const onSignal = (signal: NodeJS.Signals) => {
    const removed = removeHeldFilesSync();
    process.stderr.write(`moat bayes ${cmd}: interrupted (${signal}) while writing; the dictionary is as it was or whole and new, never half written${removed.length ? `; removed ${removed.join(', ')}` : ''}\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await write();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** DICT read for a command, or an error line naming it: missing, a folder, or not a dictionary (and why). */
async function readDictionary(file: string, report?: ReadReport): Promise<Dictionary> {
  checkReadableFile(file, file, `${file} is a folder, not a dictionary file`);
  try {
    return await loadDictionary(file, report);
  } catch (err) {
    throw naming(file, err);
  }
}

type TrainCommand = 'create' | 'merge' | 'learn-spam' | 'learn-ham';

/**
 * The folders a training command names: both for create and merge, one for learn-spam and learn-ham (`args`: the
 * positional arguments after DICT, or all of them in the `--config` form).
 */
function trainedFolders(cmd: TrainCommand, args: string[]): { spamDir?: string; hamDir?: string; named: string } {
  if (cmd === 'learn-spam') return { spamDir: args[0], named: args[0] };
  if (cmd === 'learn-ham') return { hamDir: args[0], named: args[0] };
  return { spamDir: args[0], hamDir: args[1], named: `${args[0]} or ${args[1]}` };
}

async function train(cmd: TrainCommand, pos: string[], o: Opts): Promise<void> {
  if (cmd !== 'create' && o.config !== undefined) return mergeShared(cmd, pos, o);
  const [dict, ...dirs] = pos;
  const { spamDir, hamDir, named } = trainedFolders(cmd, dirs);
  // Folders are opened by their bytes, which a name that is not UTF-8 needs; messages name them by the strings.
  const folders = listFolders(spamDir === undefined ? undefined : fileSystemPath(spamDir), hamDir === undefined ? undefined : fileSystemPath(hamDir));
  checkWritable(dict);
  // A mistyped DICT would otherwise become a new dictionary that no gateway reads, and the run would look done.
  if (cmd !== 'create' && !fs.existsSync(dict)) {
    throw new Error(`${dict} does not exist: ${cmd} adds to a dictionary; make a new one with \`moat bayes create ${dict} SPAMDIR HAMDIR\``);
  }
  const reinforcing = !o['no-reinforce'];
  // MailEnable's XML holds counts alone: fitting models it cannot keep would be time thrown away.
  const countsOnly = formatOf(dict) === 'xml';
  const linear = !o['no-linear'] && !countsOnly;
  const byteGrams = !o['no-byte-grams'] && !countsOnly;
  // A merge judges the new messages by the dictionary they join too, and goes on from its models (a snapshot:
  // the merge itself re-reads it under the lock). It is read even when no pass needs it, so that a damaged DICT
  // fails the merge before the long run rather than after it.
  const current = cmd !== 'create' ? await readDictionary(dict) : undefined;
  const background = reinforcing || linear || byteGrams ? current : undefined;
  const r = trainFolders(folders, {
    tokenizer: { bigrams: !o['no-bigrams'], processHtml: !o['no-html'] },
    showProgress: o.json ? false : undefined,
    reinforce: reinforcing,
    linear,
    byteGrams,
    background,
    keepDuplicates: o['keep-duplicates'] === true,
  });
  const learned = r.spam + r.ham + r.duplicates.spam + r.duplicates.ham;
  if (!learned) {
    const skippedNote = r.skipped.length ? ` (${describeSkipped(r.skipped)})` : '';
    // Replacing a working dictionary with an empty one is never what an admin meant.
    if (cmd === 'create') throw new Error(`no message was found under ${named}${skippedNote}; ${dict} was left as it was`);
    out(o, { dictionary: dict, learned: { spam: 0, ham: 0 }, skipped: r.skipped }, `nothing to merge: no message was found under ${named}; ${dict} was left as it was`);
    warnSkipped(o, r.skipped);
    return;
  }
  // Learning happens outside the lock; only the merge into the file holds it, briefly. The models were fitted
  // from the file as it was read at the start: another merge since then keeps what it added to them too.
  const existed = fs.existsSync(dict);
  const result = await whileWriting(cmd, () => (cmd === 'create'
    ? withLock(dict, async () => { await saveDictionary(dict, r.dict); return r.dict; })
    : updateDictionary(dict, (d) => d.merge(r.dict, background)).catch((err) => { throw naming(dict, err); })));
  const again = r.reinforced;
  // Every pass: what an admin waits for.
  // Copies passed over were read and tokenized too, as the eval counts them.
  const rate = (r.spam + r.ham + r.duplicates.spam + r.duplicates.ham) / Math.max(r.seconds + (again?.seconds ?? 0) + (r.linear?.seconds ?? 0) + (r.byteGrams?.seconds ?? 0), 1e-6);
  out(o, {
    dictionary: dict, learned: { spam: r.spam, ham: r.ham }, messages: { spam: result.nspam, ham: result.nham }, tokens: heldTokens(result), msgPerSecond: Math.round(rate),
    ...(again && { reinforced: { spam: again.spam, ham: again.ham, checked: again.checked } }),
    ...(r.linear && { weighted: r.linear.weighted }),
    // The file's: a merge that overlapped another goes on from the byte model that one wrote, not from ours alone.
    ...(r.byteGrams && { byteGrams: { messages: result.byteGrams?.messages ?? r.byteGrams.messages } }),
    duplicates: r.duplicates,
    skipped: r.skipped,
  }, `${cmd === 'create' ? 'created' : 'merged into'} ${dict}: learned ${r.spam} spam and ${r.ham} ham` +
    copiesNote(r.duplicates) +
    (again ? `, then again ${again.spam} spam and ${again.ham} ham that the rest misjudged` : '') +
    fitted([r.linear && `the weights of ${r.linear.weighted} tokens`, r.byteGrams && 'the byte model']) +
    ` (${rate.toFixed(0)} msg/s); now ${result.nspam} spam, ${result.nham} ham, ${counted(heldTokens(result), 'token')}`);
  warnSkipped(o, r.skipped);
  if (existed) warnModelsMissing(dict, result);
  if (countsOnly && !o.json && !(o['no-linear'] && o['no-byte-grams'])) {
    process.stderr.write(`note: ${dict} is MailEnable XML, which holds counts alone, so the linear and byte models were not fitted; a TAB dictionary (any other name) keeps them and scores better\n`);
  }
  // A new dictionary without one of the classes judges every message by the other: most likely a wrong folder.
  if (cmd === 'create' && !o.json && (!r.spam || !r.ham)) {
    process.stderr.write(`warning: no ${r.spam ? 'ham' : 'spam'} was found under ${r.spam ? hamDir : spamDir}; ${dict} cannot tell spam from ham until it learns some\n`);
  }
  if (cmd === 'learn-spam' || cmd === 'learn-ham') noteBalance(o, `${dict} now holds`, result);
}

/**
 * After one class was learned: what the gateways' balance rule (bayes `balance`, on by default) makes of the totals.
 * The command itself is not held by it (an admin's training is explicit), but the auto-training that follows is: it
 * learns the class that leads only once the other has caught up.
 */
function noteBalance(o: Opts, holds: string, totals: { nspam: number; nham: number }): void {
  if (o.json || totals.nspam === totals.nham) return;
  const [more, less] = totals.nspam > totals.nham ? ['spam', 'ham'] : ['ham', 'spam'];
  process.stderr.write(`note: ${holds} ${Math.abs(totals.nspam - totals.nham)} more ${more} than ${less}: under the bayes plugin's balance rule `
    + `(balance: true, the default) the gateways' auto-training learns no ${more} (from honeypots, ham addresses or verdicts) until ${less} catches up `
    + `to within balance_slack (this command, as a recipient's release or block, was learned whatever the totals)\n`);
}

/** The config named by --config and --set, read as `moat start` reads it. */
async function configOf(o: Opts) {
  const { loadConfig } = await import('../../core/config/load.ts');
  return loadConfig({ file: o.config as string, overrides: (o.set as string[] | undefined) ?? [] });
}

/**
 * `merge --config FILE SPAMDIR HAMDIR` (or `learn-spam|learn-ham --config FILE DIR`): the folders taught to the counts
 * the config's gateways share (bayes-shared.ts).
 */
async function mergeShared(cmd: Exclude<TrainCommand, 'create'>, pos: string[], o: Opts): Promise<void> {
  const { spamDir, hamDir, named } = trainedFolders(cmd, pos);
  const folders = listFolders(spamDir === undefined ? undefined : fileSystemPath(spamDir), hamDir === undefined ? undefined : fileSystemPath(hamDir));
  const { openShared, teachShared } = await import('./bayes-shared.ts');
  const place = await openShared(await configOf(o));
  try {
    const r = await teachShared(place, folders, { showProgress: o.json ? false : undefined, keepDuplicates: o['keep-duplicates'] === true });
    const taught = r.learned.spam + r.learned.ham;
    const rate = (taught + r.duplicates.spam + r.duplicates.ham) / Math.max(r.seconds, 1e-6);
    const target = `the shared counts (Redis ${place.where}, namespace ${place.namespace})`;
    if (!taught && !r.stopped) {
      out(o, { shared: { url: place.where, namespace: place.namespace }, learned: r.learned, duplicates: r.duplicates, skipped: r.skipped },
        `nothing to teach: no new message was found under ${named}; ${target} were left as they were`);
    } else {
      out(o, {
        shared: { url: place.where, namespace: place.namespace }, learned: r.learned, duplicates: r.duplicates, skipped: r.skipped,
        store: { messages: { spam: r.store.spam, ham: r.store.ham }, log: r.store.log }, msgPerSecond: Math.round(rate), ...(r.stopped && { stopped: r.stopped }),
      }, `taught ${target}: learned ${r.learned.spam} spam and ${r.learned.ham} ham${copiesNote(r.duplicates)} (${rate.toFixed(0)} msg/s); `
        + `it now holds ${r.store.spam} spam and ${r.store.ham} ham learned, the log at lesson ${r.store.log}; every gateway on it scores with them after its next sync (sync_interval)`);
    }
    warnSkipped(o, r.skipped);
    if (r.stopped) throw new Error(`Redis stopped answering (${r.stopped}): the lessons above were taught, the rest of the folders were not; a second run teaches the first ones again`);
  } finally {
    await place.close();
  }
}

/**
 * The message files of the folders, each listed once for both the checks and the learning. The folders named must
 * exist, and neither may hold the other: ham under the spam folder (or the reverse) would be learned as both. One
 * left out (learn-spam, learn-ham) gives no message.
 */
function listFolders(spamDir: string | Buffer | undefined, hamDir: string | Buffer | undefined): ListedFolders {
  for (const d of [spamDir, hamDir]) if (d !== undefined && !fs.existsSync(d)) throw new Error(`${d.toString()} does not exist`);
  if (spamDir === undefined || hamDir === undefined) {
    const skipped: SkippedFile[] = [];
    const one = (d: string | Buffer | undefined) => (d === undefined ? [] : listSources(d, skipped));
    return { spam: one(spamDir), ham: one(hamDir), skipped };
  }
  // Compared as bytes (latin1 keeps each byte as one character), so names that are not UTF-8 never look alike.
  const [spam, ham] = [fs.realpathSync.native(spamDir, 'latin1'), fs.realpathSync.native(hamDir, 'latin1')];
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(outer.endsWith(path.sep) ? outer : outer + path.sep);
  const shown = (p: string) => Buffer.from(p, 'latin1').toString();
  if (spam === ham) throw new UsageError(`SPAMDIR and HAMDIR are the same folder (${shown(spam)})`);
  if (within(spam, ham) || within(ham, spam)) throw new UsageError(`SPAMDIR and HAMDIR must not hold one another (${shown(spam)}, ${shown(ham)}): its messages would be learned as both`);
  // The same through symbolic links below them: `ham/x -> ../spam/y` taught spam as ham.
  const [spamReached, hamReached]: ReachedPlaces[] = [{ folders: new Set(), files: new Set() }, { folders: new Set(), files: new Set() }];
  const skipped: SkippedFile[] = [];
  const listed = { spam: listSources(spamDir, skipped, spamReached), ham: listSources(hamDir, skipped, hamReached), skipped };
  const both = sharedPlace(spamReached, hamReached);
  if (both !== undefined) throw new UsageError(`SPAMDIR and HAMDIR both reach ${shown(both)} (through a symbolic link): its messages would be learned as both`);
  return listed;
}

/** Fails before a long run, not after it, when DICT could not be written: a folder, or a place without write access. */
function checkWritable(dict: string): void {
  const st = fs.statSync(dict, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw new Error(`${dict} is a folder, not a dictionary file`);
  const dir = path.dirname(path.resolve(dict));
  // A folder is never made: a typo in its name would give a dictionary no gateway reads, and exit 0.
  const folder = fs.statSync(dir, { throwIfNoEntry: false });
  if (!folder) throw new Error(`cannot write ${dict}: the folder ${dir} does not exist (create it first if it is meant)`);
  // `a.tab/new.tab`: the folder it would be made in would be a file.
  if (!folder.isDirectory()) throw new Error(`cannot write ${dict}: ${dir} is a file, not a folder`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new Error(`cannot write ${dict}: ${dir} is not writable (${(e as NodeJS.ErrnoException).code})`);
  }
}

/**
 * Says on stderr what a running gateway does with a TAB dictionary `d` that was just written over an existing file
 * without a byte model or linear weights: one that loaded the file with them refuses it (it is worse than what it
 * scores with), keeps its loaded dictionary and keeps its lessons in memory, until `moat bayes reload`. The file
 * alone does not tell whether a gateway uses it, so this is said whenever it could.
 */
function warnModelsMissing(dict: string, d: Dictionary): void {
  if (formatOf(dict) === 'xml') return;
  const missing = [!d.byteGrams && 'byte model', !d.hasWeights && 'linear weights'].filter(Boolean).join(' and ');
  if (!missing) return;
  process.stderr.write(`note: ${dict} now has no ${missing}. A gateway that loaded it with them refuses this version `
    + `(\`bayes dictionary file refused\` in its log), goes on scoring with what it loaded and keeps what it learns in memory; `
    + `run \`moat bayes reload --config <its config>\` to make it take this file, or make it again with the models `
    + `(without --no-byte-grams and --no-linear). A gateway whose dictionary had none takes it on its own.\n`);
}

/** " (passed over 3 spam and 1 ham copies of messages already learned)", or nothing. */
function copiesNote(d: { spam: number; ham: number }): string {
  return d.spam + d.ham ? ` (passed over ${d.spam} spam and ${d.ham} ham cop${d.spam + d.ham === 1 ? 'y' : 'ies'} of messages already learned)` : '';
}

/** Files that gave no message, on stderr so that output stays what it was; with --json they are in the output too. */
function warnSkipped(o: Opts, skipped: SkippedFile[]): void {
  if (skipped.length && !o.json) process.stderr.write(`${describeSkipped(skipped)}\n`);
}

/** ", and fitted A and B" for the models a training pass fitted, or nothing. */
function fitted(models: Array<string | undefined | false>): string {
  const names = models.filter((m): m is string => !!m);
  return names.length ? `, and fitted ${names.join(' and ')}` : '';
}

async function verify(pos: string[], o: Opts): Promise<void> {
  const cutoff = numberOpt(o, 'cutoff', 0.9, { min: 0, max: 1 });
  const mode = modeOpt(o);
  const target = fileSystemPath(pos[1]);
  if (!fs.existsSync(target)) throw new Error(`${pos[1]} does not exist`);
  const filter = filterFor(await readDictionary(pos[0]), o, mode);
  const skipped: SkippedFile[] = [];
  const sources = listSources(target, skipped);
  // Each line is printed as its message is scored, so a long run shows its results (and `| head` its first) at
  // once. On a terminal those lines are the progress; a bar drawn between them would be torn apart.
  const bar = new Progress('scoring', sources.length, o.json || process.stdout.isTTY ? false : undefined);
  let n = 0;
  let spam = 0;
  let sum = 0;
  for (const item of readMessages(sources, { skipped, onFile: () => bar.tick(), onMessage: () => bar.message(), onProgress: (f) => bar.within(f) })) {
    const p = filter.score(item.raw).probability;
    n++;
    sum += p;
    if (p >= cutoff) spam++;
    console.log(o.json ? JSON.stringify({ file: item.name, ...(item.message && { message: item.message }), ...(item.fileBytes && { fileBytes: item.fileBytes }), probability: Number(p.toFixed(6)) }) : `${p.toFixed(4)}  ${item.name}`);
  }
  bar.finish();
  // "0 messages: 0.00%" would read as a verdict on a folder that held no mail at all: a wrong path, most likely.
  if (!n) throw new Error(`no message was found under ${pos[1]}${skipped.length ? ` (${describeSkipped(skipped)})` : ''}: nothing to verify`);
  const summary = { messages: n, spam, ham: n - spam, cutoff, spamPercent: n ? (100 * spam) / n : 0, meanProbability: n ? sum / n : 0, skipped };
  // stdout holds one line per message, and nothing else, for a program to read.
  if (o.json) { process.stderr.write(`${JSON.stringify({ summary })}\n`); return; }
  console.log(`\n${counted(n, 'message')}: ${spam} at or above ${cutoff} (${summary.spamPercent.toFixed(2)}%), ${n - spam} below; mean probability ${summary.meanProbability.toFixed(4)}`);
  warnSkipped(o, skipped);
}

async function score(pos: string[], o: Opts): Promise<void> {
  const mode = modeOpt(o);
  const raw = oneMessage(pos[1]);
  const filter = filterFor(await readDictionary(pos[0]), o, mode);
  const s = filter.score(raw, filter.dict, true);
  // Imported here, as loadConfig in reload: the plugin's module brings much of the gateway with it, which was
  // about a third of every command's start-up.
  const { bandOf, shownProbability } = await import('../../plugins/bayes/index.ts');
  // As the gateway chooses it: by the probability its header shows.
  const band = bandOf(Number(shownProbability(s.probability)), DEFAULT_BANDS);
  out(o, { file: pos[1], probability: s.probability, band: band?.symbol, tokens: s.used, top: s.top },
    `${s.probability.toFixed(6)} ${band?.symbol ?? ''} (${counted(s.used, 'token')})\n` + s.top.map(([t, p]) => `  ${p.toFixed(3)}  ${t}`).join('\n'));
}

/**
 * The one message in the file named `arg`, read as verify reads a file, or an error saying why there is none to
 * score. verify passes over a file that is empty or no message (a photo, an index), and splits an mbox: a score of
 * either as one message would look like a judgement of mail.
 */
function oneMessage(arg: string): Buffer {
  const file = fileSystemPath(arg);
  checkReadableFile(file, arg, `${arg} is a folder: score takes one message; verify scores a folder`);
  const skipped: SkippedFile[] = [];
  const messages = readMessages(listSources(file, skipped), { skipped });
  try {
    const first = messages.next();
    if (first.done) throw new Error(skipped.length ? noMessage(arg, skipped[0].reason) : `${arg} is empty`);
    if (!messages.next().done) throw new Error(`${arg} holds several messages (an mbox): score takes one message; verify scores each`);
    return first.value.raw;
  } finally {
    messages.return(undefined);
  }
}

/** Why the file `arg` gave no message, from the reason verify would note for it. */
function noMessage(arg: string, reason: string): string {
  if (reason === 'empty') return `${arg} is empty`;
  if (reason === 'not a message') return `${arg} is not a message: it starts with neither a header field nor a From_ line`;
  return `cannot read ${arg} (${reason.replace(/^unreadable: /, '')})`;
}

async function pruneCmd(pos: string[], o: Opts): Promise<void> {
  const options = {
    minCount: numberOpt(o, 'min-count', 2, { min: 0, max: Infinity, whole: true }),
    // A band of ±0.5 around 0.5 holds every token: pruning would empty the dictionary.
    neutral: numberOpt(o, 'neutral', 0.1, { min: 0, max: 0.5, belowMax: true }),
    // 0 would keep every token, not none: refused, as it reads like either. Left out, there is no limit.
    maxTokens: numberOpt(o, 'max-tokens', 0, { min: 1, max: Infinity, whole: true }),
  };
  // updateDictionary starts from an empty dictionary when there is none: a mistyped name would be "pruned" into one.
  checkReadableFile(pos[0], pos[0], `${pos[0]} is a folder, not a dictionary file`);
  let r = { before: 0, after: 0 };
  const pruneHeld = (dict: Dictionary) => {
    const before = heldTokens(dict);
    r = { before, after: prune(dict, options).after };
  };
  const d = await whileWriting('prune', () => updateDictionary(pos[0], pruneHeld)).catch((err) => { throw naming(pos[0], err); });
  out(o, { dictionary: pos[0], tokensBefore: r.before, tokensAfter: r.after, bytes: fs.statSync(pos[0]).size },
    `pruned ${pos[0]}: ${r.before} → ${counted(r.after, 'token')} (${d.nspam} spam, ${d.nham} ham messages), ${(fs.statSync(pos[0]).size / 1e6).toFixed(1)} MB`);
}

async function reload(o: Opts): Promise<void> {
  let dataDir = o['data-dir'] as string | undefined;
  // One would be ignored, and the gateway it names might never get the request.
  if (dataDir !== undefined && (o.config !== undefined || (o.set as string[] | undefined)?.length)) throw new UsageError('reload takes --config FILE (and --set) or --data-dir DIR, not both');
  if (!dataDir) {
    const { loadConfig } = await import('../../core/config/load.ts');
    const loaded = await loadConfig({ file: o.config as string | undefined, overrides: (o.set as string[] | undefined) ?? [] });
    dataDir = loaded.config.data_dir;
  }
  // A gateway makes its data_dir when it starts: without one, no gateway would see the request.
  if (!fs.statSync(dataDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`no gateway data folder at ${path.resolve(dataDir)}: give the gateway's --config or --data-dir`);
  }
  const file = await requestReload(path.resolve(dataDir));
  out(o, { requested: file }, `reload requested (${file}); gateways using this data_dir reload within their reload_check interval`);
}

/** "; passed over 3 malformed lines (the first: line 2)", or nothing; XML counts entries instead of lines. */
function malformedNote(m: Malformed, format: DictFormat): string {
  if (!m.count) return '';
  const [one, many] = format === 'xml' ? ['entry', 'entries'] : ['line', 'lines'];
  return `; passed over ${m.count} malformed ${m.count === 1 ? one : many} (the first: ${one} ${m.first})${m.droppedModel ? `; ${m.droppedModel}` : ''}`;
}

const ENCODING_NAMES: Record<string, string> = { 'windows-1252': 'Windows-1252', 'utf-16le': 'UTF-16LE', 'utf-16be': 'UTF-16BE' };

/** "; read as Windows-1252, not UTF-8" for a dictionary MailEnable wrote in Windows' code page, or nothing. */
function encodingNote(encoding?: string): string {
  return encoding ? `; read as ${ENCODING_NAMES[encoding] ?? encoding}, not UTF-8` : '';
}

async function stats(pos: string[], o: Opts): Promise<void> {
  const report: ReadReport = { count: 0, first: 0 };
  const shared = o.config === undefined ? undefined : await import('./bayes-shared.ts').then(async (m) => ({ m, place: await m.openShared(await configOf(o)) }));
  try {
    // Without DICT, the file the config's plugin scores with.
    await statsOf(pos[0] ?? shared!.place.dictionary, report, o, shared && (async (d: Dictionary) => {
      const s = await shared.m.sharedStats(shared.place, d);
      return { json: { shared: s.shared, sharedStore: { url: s.url, namespace: s.namespace }, scoredWith: s.combined }, lines: shared.m.sharedStatsLines(s) };
    }));
  } finally {
    await shared?.place.close();
  }
}

/** What stats adds for the shared counts: fields of the JSON, and lines after the file's. */
type SharedPart = (d: Dictionary) => Promise<{ json: Record<string, unknown>; lines: string[] }>;

async function statsOf(dict: string, report: ReadReport, o: Opts, sharedPart?: SharedPart): Promise<void> {
  const pos = [dict];
  const d = await readDictionary(pos[0], report);
  const { encoding, ...malformed } = report;
  const tokens = heldTokens(d);
  const scored: Array<{ token: string; p: number; n: number }> = [];
  let weighted = 0;
  for (const e of d.entries()) if (e.weight !== 0) weighted++;
  for (const e of d.entries()) if (e.spam + e.ham >= 5) scored.push({ token: e.token, p: tokenProbability(e.spam, e.ham, d.nspam, d.nham, DEFAULT_SCORING), n: e.spam + e.ham });
  scored.sort((a, b) => b.p - a.p || b.n - a.n);
  const top = (list: typeof scored) => list.slice(0, 15).map((x) => ({ token: x.token, probability: Number(x.p.toFixed(4)), messages: x.n }));
  const spammy = top(scored);
  const hammy = top([...scored].reverse());
  const model = d.byteGrams;
  const byteGrams = model ? { messages: model.messages, buckets: model.state.length / 2, prefixBytes: model.prefixBytes } : null;
  const extra = await sharedPart?.(d);
  const info = { dictionary: pos[0], bytes: fs.statSync(pos[0]).size, messages: { spam: d.nspam, ham: d.nham }, tokens, weighted, byteGrams, malformed, ...(encoding && { encoding }), ...extra?.json, spammiest: spammy, hammiest: hammy };
  out(o, info, [
    `${extra ? 'dictionary file ' : ''}${pos[0]}: ${d.nspam} spam and ${d.nham} ham messages, ${counted(tokens, 'token')} (${weighted ? `${weighted} with a weight in the linear model` : 'no linear model: counts alone'}), ${(info.bytes / 1e6).toFixed(2)} MB${malformedNote(malformed, formatOf(pos[0]))}${encodingNote(encoding)}`,
    byteGrams ? `byte model: fitted on ${byteGrams.messages} messages (first ${byteGrams.prefixBytes} bytes, ${byteGrams.buckets} buckets)` : 'no byte model',
    ...extra?.lines ?? [],
    `spammiest${extra ? ' in the file' : ''} (seen in ≥5 messages):`, ...spammy.map((x) => `  ${x.probability.toFixed(4)} ${String(x.messages).padStart(6)}  ${x.token}`),
    'hammiest:', ...hammy.map((x) => `  ${x.probability.toFixed(4)} ${String(x.messages).padStart(6)}  ${x.token}`),
  ].join('\n'));
}

async function exportCmd(pos: string[], o: Opts): Promise<void> {
  const [dict, file] = pos;
  const format = formatOpt(o, file);
  // Every reader (import, the gateway, another export) goes by the name: a TAB file named .xml reads as broken XML.
  const named = /\.(xml|tab)$/i.exec(file)?.[1].toLowerCase();
  if (named && named !== format) throw new UsageError(`FILE ${file} is named .${named} but --format is ${format}: name it .${format}`);
  if (o['with-weights'] && format === 'xml') throw new UsageError('--with-weights applies to TAB: MailEnable XML holds counts alone');
  // Without --with-weights the copy leaves the models out: written over DICT, it would strip them from it.
  if (sameFile(dict, file)) throw new UsageError(`FILE is DICT itself (${file}): export writes a copy`);
  checkWritable(file);
  const report: ReadReport = { count: 0, first: 0 };
  const d = await readDictionary(dict, report);
  const { encoding, ...malformed } = report;
  await whileWriting('export', () => writeFileAtomic(file, serialize(d, format, !o['with-weights'])));
  const tokens = heldTokens(d);
  out(o, { exported: file, tokens, malformed, ...(encoding && { encoding }) }, `exported ${counted(tokens, 'token')} to ${file}${malformedNote(malformed, formatOf(dict))}${encodingNote(encoding)}`);
}

/** Whether two names lead to one existing file. */
function sameFile(a: string, b: string): boolean {
  const [x, y] = [fs.statSync(a, { throwIfNoEntry: false }), fs.statSync(b, { throwIfNoEntry: false })];
  return !!x && !!y && x.dev === y.dev && x.ino === y.ino;
}

async function importCmd(pos: string[], o: Opts): Promise<void> {
  const [dict, file] = pos;
  if (o.format !== undefined && o.format !== 'tab' && o.format !== 'xml') throw new UsageError('--format must be tab or xml');
  checkWritable(dict);
  const data = readForeignBytes(file);
  // The file's content decides, as MailEnable's own name may be anything; a --format it contradicts is refused, as
  // export refuses a name its --format contradicts, rather than read XML as TAB lines and fail on the first.
  const found = formatIn(data);
  if (o.format !== undefined && o.format !== found) throw new UsageError(`FILE ${file} holds MailEnable ${found.toUpperCase()}, but --format is ${o.format}: give --format ${found}, or leave it out`);
  const format = found;
  const report: ReadReport = { count: 0, first: 0 };
  const incoming = readForeign(file, data, format, report);
  const { encoding, ...malformed } = report;
  const existed = fs.existsSync(dict);
  const d = await whileWriting('import', () => (o.merge
    ? updateDictionary(dict, (cur) => cur.merge(incoming))
    : withLock(dict, async () => { await saveDictionary(dict, incoming); return incoming; }))
  ).catch((err) => { throw naming(dict, err); });
  if (existed) warnModelsMissing(dict, d);
  const [imported, tokens] = [heldTokens(incoming), heldTokens(d)];
  out(o, { dictionary: dict, imported, tokens, messages: { spam: d.nspam, ham: d.nham }, malformed, ...(encoding && { encoding }) },
    `${o.merge ? 'merged' : 'imported'} ${counted(imported, 'token')} from ${file} into ${dict} (${d.nspam} spam, ${d.nham} ham messages)${malformedNote(malformed, format)}${encodingNote(encoding)}`);
}

/** The bytes of the file `arg`, or an error line naming it: missing, a folder, unreadable. */
function readForeignBytes(arg: string): Buffer {
  const file = fileSystemPath(arg);
  checkReadableFile(file, arg, `${arg} is a folder, not a dictionary file`);
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw naming(arg, err);
  }
}

/** The dictionary in the file `arg` (MailEnable's, most likely), or an error line naming it and what is wrong. */
function readForeign(arg: string, data: Buffer, format: DictFormat, report: ReadReport): Dictionary {
  try {
    return deserialize(data, format, report);
  } catch (err) {
    throw naming(arg, err);
  }
}

/** The options whose value is a number, checked by `numberOpt`. */
const NUMERIC_OPTIONS = ['cutoff', 'min-count', 'neutral', 'max-tokens'];

/**
 * `--max-tokens -5` as `--max-tokens=-5`: the option parser takes a value starting with `-` for an option of its own
 * and fails with its own puzzle, where the command's check says what the number must be.
 */
function negativeNumbersJoined(args: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return [...joined, ...args.slice(i)];
    const next = args[i + 1];
    if (next !== undefined && NUMERIC_OPTIONS.includes(a.replace(/^--/, '')) && a.startsWith('--') && /^-(?:\d|\.\d)/.test(next)) {
      joined.push(`${a}=${next}`);
      i++;
    } else joined.push(a);
  }
  return joined;
}

export async function run(args: string[]): Promise<number> {
  const parsed = readCommand(negativeNumbersJoined(args), {
    json: { type: 'boolean' }, merge: { type: 'boolean' },
    'no-bigrams': { type: 'boolean' }, 'no-html': { type: 'boolean' }, 'no-reinforce': { type: 'boolean' }, 'no-linear': { type: 'boolean' }, 'no-byte-grams': { type: 'boolean' }, 'with-weights': { type: 'boolean' },
    'keep-duplicates': { type: 'boolean' },
    mode: { type: 'string' }, cutoff: { type: 'string' }, format: { type: 'string' },
    'min-count': { type: 'string' }, neutral: { type: 'string' }, 'max-tokens': { type: 'string' },
    ...CONFIG_OPTIONS, 'data-dir': { type: 'string' },
  }, USAGE);
  if (typeof parsed === 'number') return parsed;
  const [cmd, ...pos] = parsed.positionals;
  const o = parsed.values as Opts;
  if (!cmd) { console.error(USAGE); return USAGE_ERROR; }
  noticeStaleLocks((m) => process.stderr.write(`moat bayes ${cmd}: ${m}\n`));
  try {
    checkCommandLine(cmd, pos, o);
    switch (cmd) {
      case 'create': case 'merge': case 'learn-spam': case 'learn-ham': await train(cmd, pos, o); break;
      case 'verify': await verify(pos, o); break;
      case 'score': await score(pos, o); break;
      case 'prune': await pruneCmd(pos, o); break;
      case 'reload': await reload(o); break;
      case 'stats': await stats(pos, o); break;
      case 'export': await exportCmd(pos, o); break;
      case 'import': await importCmd(pos, o); break;
      default: throw new UsageError(`unknown command ${cmd}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) { console.error(`${err.message}\n\n${USAGE}`); return USAGE_ERROR; }
    console.error(`moat bayes ${cmd}: ${(err as Error).message}`);
    return 1;
  }
}
