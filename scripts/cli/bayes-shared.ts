// The Bayes counts gateways share through Redis, as `moat bayes merge --config` teaches them and `moat bayes stats
// --config` shows them. With several gateways each keeps its own dictionary file (its own data_dir), so a merge into
// one file reached that gateway alone; a lesson taught through the state store reaches every gateway on it at its next
// sync, as Rspamd's `rspamc learn_spam` on any node goes into the shared Redis.
import type { LoadedConfig } from '../../core/config/load.ts';
import { validate } from '../../core/config/schema.ts';
import { pluginOptions, type EntryLike } from '../../core/plugin/loader.ts';
import { redactUrl } from '../../core/log/logger.ts';
import type { StateStore } from '../../core/store/types.ts';
import { configSchema, dictionaryPath, tokenizerOptions, type BayesConfig } from '../../plugins/bayes/config.ts';
import { SharedCounts, type SharedBalance, type SharedDecision } from '../../plugins/bayes/shared-counts.ts';
import { tokensDigest } from '../../plugins/bayes/lesson-record.ts';
import { Dictionary } from '../../plugins/bayes/engine/dictionary.ts';
import { clientMessage } from '../../plugins/bayes/engine/client-message.ts';
import { tokenize, type TokenizerOptions } from '../../plugins/bayes/engine/tokenizer.ts';
import { readMessages, type SkippedFile } from '../bayes/mail-folders.ts';
import type { ListedFolders } from '../bayes/train.ts';
import { Progress } from '../bayes/progress.ts';

/**
 * An admin's training is explicit, as a recipient's correction on the quarantine pages is: the balance rule, which
 * keeps auto-training from tilting a dictionary, is not asked (README, "Learning from recipients").
 */
const ADMIN_LESSON: SharedBalance = { balance: false, slack: 0, outside: { nspam: 0, nham: 0 } };
/** Lessons sent to Redis at once: one script call each, pipelined on the one connection, in learning order. */
const IN_FLIGHT = 16;

/** The shared counts of a config's bayes plugin, open in its Redis state store. */
export interface SharedPlace {
  counts: SharedCounts;
  namespace: string;
  /** The Redis URL, its password masked. */
  where: string;
  /** The plugin's dictionary file, as the gateway resolves it. */
  dictionary: string;
  options: BayesConfig;
  close(): Promise<void>;
}

/** The options of the config's first bayes entry, and its position, or an error saying there is none. */
function bayesEntry(loaded: LoadedConfig): { index: number; options: BayesConfig } {
  const entries = loaded.config.plugins.flatMap((entry, index) => (entry.name === 'bayes' ? [{ index, options: validate(configSchema, pluginOptions(entry as EntryLike)).value }] : []));
  if (!entries.length) throw new Error(`no bayes plugin in ${loaded.file ?? 'the built-in config'}`);
  return entries[0];
}

/**
 * Opens the shared counts the config's bayes plugin learns into. Refused when the gateways keep none: without a
 * Redis state store (or with `share_counts: off`) each learns into its own file, which `merge DICT` teaches.
 */
export async function openShared(loaded: LoadedConfig): Promise<SharedPlace> {
  const { index, options } = bayesEntry(loaded);
  const { state } = loaded.config;
  if (state.backend !== 'redis' || options.share_counts === 'off') {
    const why = state.backend !== 'redis' ? `the state store is ${state.backend}, not Redis` : `plugins[${index}] has share_counts: off`;
    throw new Error(`the gateways of ${loaded.file ?? 'this config'} share no Bayes counts (${why}): each learns into its dictionary file; teach that with \`moat bayes merge DICT SPAMDIR HAMDIR\``);
  }
  const { RedisStore } = await import('../../core/store/redis-store.ts');
  const store: StateStore = await RedisStore.connect(state.redis.url, { prefix: state.redis.prefix });
  const counts = new SharedCounts(store, options.share_namespace);
  const dictionary = dictionaryPath(options, { configDir: loaded.baseDir, dataDir: loaded.config.data_dir });
  return {
    counts, namespace: options.share_namespace, where: redactUrl(state.redis.url), dictionary, options,
    async close() { await counts.close(0); await store.close(); },
  };
}

/** What a shared merge taught, and the store's totals after its last lesson. */
export interface SharedMergeResult {
  learned: { spam: number; ham: number };
  duplicates: { spam: number; ham: number };
  skipped: SkippedFile[];
  /** The store's learned totals after the last lesson, and that lesson's number in the log. */
  store: { spam: number; ham: number; log: number };
  seconds: number;
  /** Why the run stopped before the end (Redis stopped answering), with the lessons taught until then. */
  stopped?: string;
}

/** The tokens the gateway would learn of `raw`: read from where the client's message starts, at most `max_bytes`. */
function lessonTokens(raw: Buffer, opts: TokenizerOptions, maxBytes: number): Map<string, number> {
  return tokenize(clientMessage(raw).subarray(0, maxBytes), opts);
}

/**
 * Teaches every message of the folders to the shared counts, by the script auto-training uses (each lesson counted
 * whole and logged, so every gateway applies it at its next sync), with the plugin's tokenizer options. A copy of a
 * message already taught in the run (same class, same tokens) is passed over unless `keepDuplicates`.
 */
export async function teachShared(place: SharedPlace, folders: ListedFolders, o: { showProgress?: boolean; keepDuplicates?: boolean }): Promise<SharedMergeResult> {
  const opts = tokenizerOptions(place.options);
  const bar = new Progress('teaching', folders.spam.length + folders.ham.length, o.showProgress);
  const seen = new Set<string>();
  const result: SharedMergeResult = { learned: { spam: 0, ham: 0 }, duplicates: { spam: 0, ham: 0 }, skipped: folders.skipped, store: { spam: 0, ham: 0, log: 0 }, seconds: 0 };
  const t0 = performance.now();
  const flying = new Set<Promise<void>>();
  const taken = (d: SharedDecision, spam: boolean) => {
    if (!d.learned) return;
    if (spam) result.learned.spam++; else result.learned.ham++;
    // The script answers with the totals it found before adding the lesson. Decisions may come back out of order:
    // the newest lesson's totals are the store's.
    if ((d.seq ?? 0) >= result.store.log) result.store = { spam: d.nspam + (spam ? 1 : 0), ham: d.nham + (spam ? 0 : 1), log: d.seq ?? 0 };
  };
  const read = { skipped: folders.skipped, onFile: () => bar.tick(), onMessage: () => bar.message(), onProgress: (f: number) => bar.within(f) };
  outer: for (const [sources, spam] of [[folders.spam, true], [folders.ham, false]] as const) {
    for (const item of readMessages(sources, read)) {
      if (result.stopped) break outer;
      const tokens = lessonTokens(item.raw, opts, place.options.max_bytes);
      if (!o.keepDuplicates) {
        const key = `${spam ? 's' : 'h'}${tokensDigest(tokens.keys())}`;
        if (seen.has(key)) { if (spam) result.duplicates.spam++; else result.duplicates.ham++; continue; }
        seen.add(key);
      }
      const lesson = place.counts.learn(tokens.keys(), spam, ADMIN_LESSON).then((d) => taken(d, spam), (e: unknown) => {
        result.stopped ??= String((e as Error)?.message ?? e);
      });
      flying.add(lesson);
      void lesson.finally(() => flying.delete(lesson));
      if (flying.size >= IN_FLIGHT) await Promise.race(flying);
    }
  }
  await Promise.all(flying);
  bar.finish();
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** What the running gateways score with: the file's counts, the shared store's, and both together. */
export interface SharedStats {
  namespace: string;
  url: string;
  shared: { messages: { spam: number; ham: number }; tokens: number; log: { lesson: number; id: string } };
  combined: { messages: { spam: number; ham: number }; tokens: number };
}

/** Reads the shared counts as of one lesson of the log, and adds them to `file` (the dictionary file's counts) as gateways do. */
export async function sharedStats(place: SharedPlace, file: Dictionary): Promise<SharedStats> {
  const at = await place.counts.readAtLogPosition();
  let tokens = 0;
  let onlyShared = 0;
  for (const e of at.dict.entries()) {
    tokens++;
    if (!file.spamOf(e.token) && !file.hamOf(e.token)) onlyShared++;
  }
  let fileTokens = 0;
  for (const _ of file.entries()) fileTokens++;
  return {
    namespace: place.namespace,
    url: place.where,
    shared: { messages: { spam: at.dict.nspam, ham: at.dict.nham }, tokens, log: { lesson: at.seq, id: at.id } },
    combined: { messages: { spam: file.nspam + at.dict.nspam, ham: file.nham + at.dict.nham }, tokens: fileTokens + onlyShared },
  };
}

/** The stats lines for the shared counts and what gateways score with. */
export function sharedStatsLines(s: SharedStats): string[] {
  const n = (x: number) => x.toLocaleString('en');
  return [
    `shared counts (Redis ${s.url}, namespace ${s.namespace}): ${n(s.shared.messages.spam)} spam and ${n(s.shared.messages.ham)} ham learned, `
      + `${n(s.shared.tokens)} tokens; the lesson log is at lesson ${n(s.shared.log.lesson)}`,
    `what the gateways score with (the file + the shared counts): ${n(s.combined.messages.spam)} spam and ${n(s.combined.messages.ham)} ham messages, ${n(s.combined.tokens)} tokens`,
  ];
}
