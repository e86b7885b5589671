// Bayesian spam filter: scores each message against a trained dictionary, records a band finding
// (BAYES_SPAM_99 …) and `X-Mailmoat-Bayes`, and keeps learning from honeypots, ham addresses and certain verdicts.
//
// Tokens come from our own MIME reader on the raw message, not from the shared parsed view, so a message
// yields exactly the tokens `moat bayes create` learned from the same mail on disk.
import path from 'node:path';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { definePlugin, PluginUnavailableError, type HookContext, type Issue, type MessageView, type Outcome, type PluginSetup, type Verdict } from '../../core/index.ts';
import { configSchema, PROBABILITY_DECIMALS, type Band, type BayesConfig } from './config.ts';
import { DictionaryFileRefused, LiveDictionary } from './live-dictionary.ts';
import { SharedCounts, isSharedStore } from './shared-counts.ts';
import { SharedLayer } from './shared-layer.ts';
import { addressMatcher, allows, lessonFields, recipientLesson, scoreWithout, settled, verdictLesson, type BalanceRule, type LearnDecision, type Lesson } from './auto-train.ts';
import { reloadRequestTime } from './reload-request.ts';
import { tokenize, DEFAULT_TOKENIZER, type TokenizerOptions, type TokenCounts } from './engine/tokenizer.ts';
import { classify, type ScoringOptions } from './engine/classify.ts';
import { BayesFilter } from './engine/filter.ts';
import { withLock, writeFileAtomic } from './engine/persist.ts';

export const HEADER = 'X-Mailmoat-Bayes';
/** How often a gateway sharing counts reads them all again, besides the lessons logged since its last sync. */
const FULL_READ_EVERY_MS = 10 * 60_000;
const PLUGIN = 'bayes';

/** The probability as the header and the finding show it: a plain number with four decimals. */
export function shownProbability(p: number): string {
  return p.toFixed(PROBABILITY_DECIMALS);
}

/** The band a probability falls in: the one with the highest `min` not above it. */
export function bandOf(p: number, bands: readonly Band[]): Band | undefined {
  let best: Band | undefined;
  for (const b of bands) if (p >= b.min && (!best || b.min > best.min)) best = b;
  return best;
}

async function readHead(message: MessageView, maxBytes: number): Promise<Buffer> {
  if (message.size <= maxBytes) return message.raw();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of message.stream()) {
    const b = chunk as Buffer;
    chunks.push(b);
    n += b.length;
    if (n >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes);
}

function dictionaryPath(cfg: BayesConfig, at: { configDir: string; dataDir: string }): string {
  return cfg.dictionary ? path.resolve(at.configDir, cfg.dictionary) : path.join(at.dataDir, 'bayes', 'dictionary.tab');
}

/**
 * For `moat check-config`: what `create` would refuse of the files the options name, read but never written. The
 * dictionary, when it exists, must be readable; when it does not, a seed named in the config must be.
 */
async function checkFiles(cfg: BayesConfig, at: { configDir: string; dataDir: string }): Promise<Issue[]> {
  const file = dictionaryPath(cfg, at);
  try {
    await fsp.access(file);
  } catch {
    if (!cfg.seed || cfg.seed === 'none') return [];
    const seed = path.resolve(at.configDir, cfg.seed);
    try { await fsp.access(seed, fsConstants.R_OK); return []; } catch (e) {
      return [{ path: 'seed', message: `${seed} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}), so the dictionary ${file} cannot be made from it` }];
    }
  }
  try { await fsp.access(file, fsConstants.R_OK); return []; } catch (e) {
    return [{ path: cfg.dictionary ? 'dictionary' : '', message: `the dictionary ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` }];
  }
}

/** Why the plugin cannot run, naming what the admin has to mend: it is then disabled, or the start stopped when `required`. */
function unavailable(what: string, e: unknown): PluginUnavailableError {
  return new PluginUnavailableError(`${what}: ${String((e as Error)?.message ?? e)}`);
}

/**
 * Copies the seed dictionary into place when the working one does not exist yet. A seed named in the config that
 * cannot be read is a config error; the shipped one missing leaves an empty dictionary, with a warning.
 */
async function seedDictionary(file: string, cfg: BayesConfig, setup: PluginSetup): Promise<void> {
  try { await fsp.access(file); return; } catch { /* absent: seed it */ }
  if (cfg.seed === 'none') return;
  const seed = cfg.seed ? path.resolve(setup.configDir, cfg.seed) : path.join(setup.projectDir, 'dictionaries', 'default.tab');
  let data: Buffer;
  try { data = await fsp.readFile(seed); } catch (e) {
    if (cfg.seed) throw unavailable(`bayes seed dictionary ${seed} (the seed option) cannot be read, so ${file} cannot be made`, e);
    setup.log.warn('bayes seed dictionary not found; starting empty', { seed });
    return;
  }
  try {
    await withLock(file, async () => {
      try { await fsp.access(file); } catch { await writeFileAtomic(file, data); }
    });
  } catch (e) {
    throw unavailable(`bayes dictionary ${file} cannot be written from the seed ${seed}`, e);
  }
  setup.log.info('bayes dictionary seeded', { dictionary: file, seed });
}

/**
 * The dictionary the plugin scores with, read at start. A file that cannot be read disables the plugin with the
 * reason (the file named); one with malformed lines is used as far as it goes, and the log says so.
 */
async function openDictionary(file: string, cfg: BayesConfig, setup: PluginSetup): Promise<LiveDictionary> {
  const live = new LiveDictionary(file);
  let damage: DictionaryFileRefused | null;
  try {
    damage = await live.load();
  } catch (e) {
    // Its file thread must not outlive a plugin that never runs.
    await live.close().catch(() => undefined);
    const again = cfg.seed === 'none' ? 'to start again empty' : 'to start again from the seed';
    throw new PluginUnavailableError(`${String((e as Error)?.message ?? e)}; restore it, or move it away ${again}`);
  }
  if (damage) setup.log.warn('bayes dictionary file refused', { dictionary: file, reason: damage.reason, detail: damage.message });
  return live;
}

/**
 * A dictionary and what keeps its shared counts current, held by every instance of the plugin that scores with it.
 * A config reload (SIGHUP) builds new plugin instances while the old ones still run; each opening the file afresh
 * took whatever was on disk at that moment: an unreadable file disabled the plugin, a file cut short replaced the
 * whole dictionary with its first lines, and a file moved away was seeded over with the shipped dictionary. The new
 * instance now takes over the running dictionary, which judges the file as any reload does (a damaged or missing
 * version is refused, and learned counts are kept in memory), and unflushed lessons are never split between two
 * copies of the same file.
 */
interface Held {
  live: LiveDictionary;
  shared: SharedCounts | null;
  layer: SharedLayer | null;
  /** One sync at a time, whichever instance's timer asks: two at once would both apply the same logged lessons. */
  sync(): Promise<'went back' | undefined>;
}

interface HeldEntry { users: number; ready: Promise<Held> }

/** Held dictionaries by state store (one per gateway, the same across reloads), then by file and namespace. */
const heldDictionaries = new WeakMap<object, Map<string, HeldEntry>>();

async function openHeld(file: string, cfg: BayesConfig, setup: PluginSetup, shared: SharedCounts | null): Promise<Held> {
  await seedDictionary(file, cfg, setup);
  const live = await openDictionary(file, cfg, setup);
  const layer = shared ? new SharedLayer(shared, live, Math.max(FULL_READ_EVERY_MS, cfg.sync_interval)) : null;
  let syncing: Promise<'went back' | undefined> | null = null;
  const sync = (): Promise<'went back' | undefined> => {
    if (!layer) return Promise.resolve(undefined);
    syncing ??= layer.sync().finally(() => { syncing = null; });
    return syncing;
  };
  return { live, shared, layer, sync };
}

export default definePlugin<BayesConfig>({
  name: PLUGIN,
  description: 'Bayesian spam probability from a trained token dictionary, with auto-training',
  configSchema,
  symbols: {
    BAYES_SPAM_99: 'Spam probability ≥ 0.99',
    BAYES_SPAM_90: 'Spam probability 0.90–0.99',
    BAYES_SPAM_70: 'Spam probability 0.70–0.90',
    BAYES_UNSURE: 'Spam probability 0.10–0.70: no opinion',
    BAYES_HAM_90: 'Spam probability 0.01–0.10',
    BAYES_HAM_99: 'Spam probability below 0.01',
    BAYES_LESSON: 'A recipient is a honeypot or ham address (detail: spam or ham, and which): the message is learned after the verdict unless deferred, as the balance rule allows; the log line "bayes learned" or "bayes not learned" says which',
  },
  check: (cfg, at) => checkFiles(cfg, at),
  async create(cfg, setup) {
    const file = dictionaryPath(cfg, { configDir: setup.configDir, dataDir: setup.services.dataDir });
    const store = setup.services.store;
    const sharing = cfg.share_counts === 'on' || (cfg.share_counts === 'auto' && isSharedStore(store));
    const key = `${file}\0${sharing ? cfg.share_namespace : ''}`;
    let byFile = heldDictionaries.get(store);
    if (!byFile) heldDictionaries.set(store, byFile = new Map());
    let entry = byFile.get(key);
    const running = !!entry;
    if (entry) entry.users++;
    else {
      // Before the dictionary's file thread starts: a store that cannot share fails the start with nothing to stop.
      const shared = sharing ? new SharedCounts(store, cfg.share_namespace, { log: setup.log }) : null;
      entry = { users: 1, ready: openHeld(file, cfg, setup, shared) };
      byFile.set(key, entry);
    }
    const mine = entry;
    const release = (): boolean => {
      mine.users--;
      if (mine.users > 0) return false;
      if (byFile.get(key) === mine) byFile.delete(key);
      return true;
    };
    let held: Held;
    try {
      held = await mine.ready;
    } catch (e) {
      release();
      throw e;
    }
    const { live, shared, layer: sharedLayer } = held;
    if (running) {
      // A config reload re-reads the file only when it changed since it was read (an unchanged one costs nothing), with
      // the care of an automatic reload: a missing, unreadable or damaged file, or one that lost a model, is refused and
      // the running dictionary kept; `moat bayes reload` is the admin's way to take such a file anyway.
      try {
        if (await live.reloadIfChanged(false)) setup.log.info('bayes dictionary reloaded', { dictionary: file, tokens: live.baseSize, on: 'config reload' });
      } catch (e) {
        if (e instanceof DictionaryFileRefused) setup.log.warn('bayes dictionary file refused', { dictionary: e.file, reason: e.reason, detail: e.message });
        else setup.log.warn('bayes dictionary not reloaded', { dictionary: file, error: String((e as Error)?.message ?? e) });
      }
    }
    const tokOpts: TokenizerOptions = { ...DEFAULT_TOKENIZER, processHtml: cfg.process_html, bigrams: cfg.bigrams, maxBytes: cfg.max_bytes };
    const scoring: ScoringOptions = { mode: cfg.mode, robs: cfg.robs, robx: cfg.robx, minDev: cfg.min_dev, maxTokens: cfg.max_tokens, minTokens: cfg.min_tokens, oddsWeight: cfg.odds_weight, linearWeight: cfg.linear_weight, byteGramWeight: cfg.byte_gram_weight, logitCap: cfg.logit_cap };
    // Scores by token hashes when nothing is learned from the message (no token strings needed): see engine/hashed-bag.ts.
    const scorer = new BayesFilter(undefined, tokOpts, scoring);
    const dataDir = setup.services.dataDir;
    let reloadSeen = await reloadRequestTime(dataDir);
    setup.log.info(running ? 'bayes dictionary kept from the running config' : 'bayes dictionary loaded',
      { dictionary: file, tokens: live.baseSize, spam: live.counts().nspam, ham: live.counts().nham, shared: !!shared });

    const timers: NodeJS.Timeout[] = [];
    const every = (ms: number, fn: () => Promise<unknown>) => {
      let running = false;
      const t = setInterval(() => {
        if (running) return;
        running = true;
        fn().catch((e) => {
          if (e instanceof DictionaryFileRefused) setup.log.warn('bayes dictionary file refused', { dictionary: e.file, reason: e.reason, detail: e.message });
          else setup.log.warn('bayes background task failed', { error: String((e as Error)?.message ?? e) });
        })
          .finally(() => { running = false; });
      }, ms);
      t.unref();
      timers.push(t);
    };
    every(cfg.reload_check, async () => {
      const requested = await reloadRequestTime(dataDir);
      const force = requested !== reloadSeen;
      reloadSeen = requested;
      if (await live.reloadIfChanged(force)) setup.log.info('bayes dictionary reloaded', { dictionary: file, tokens: live.baseSize, requested: force });
    });
    if (sharedLayer) {
      const sync = () => held.sync().then((r) => {
        // Said once, when it is noticed: what every gateway had learned through the store is gone from it, and
        // only the admin can tell whether that was meant (a FLUSHALL) or a Redis without persistence restarting.
        if (r === 'went back') setup.log.warn('bayes shared counts went back', { namespace: cfg.share_namespace, detail: 'the state store lost lessons it had counted (restarted without persistence, or from older data); scoring with the dictionary file and what the store holds now' });
      });
      if (!running) await sync().catch((e) => setup.log.warn('bayes shared counts unavailable', { error: String((e as Error)?.message ?? e) }));
      every(cfg.sync_interval, sync);
    } else {
      every(cfg.flush_interval, () => live.flush());
    }

    const recipientsLesson = recipientLesson({ honeypots: cfg.honeypots, hamAddresses: cfg.ham_addresses, delimiters: cfg.recipient_delimiter });
    const isHoneypot = addressMatcher(cfg.honeypots, cfg.recipient_delimiter);
    const balanceRule: BalanceRule = { balance: cfg.balance, slack: cfg.balance_slack };
    /** Lessons being learned: `close` waits for them, so a stopping gateway does not drop them. */
    const learning = new Set<Promise<void>>();

    /** Learns here: the check and the learning have no await between them, so concurrent messages see each other's. */
    function learnHere(tokens: TokenCounts, lesson: Lesson): LearnDecision {
      const { nspam, nham } = live.counts();
      if (!allows(balanceRule, lesson.spam, { nspam, nham })) return { learned: false, nspam, nham };
      live.learn(tokens.keys(), lesson.spam);
      return { learned: true, nspam, nham };
    }

    /** Learns in the store, which applies the balance rule to its own totals as it learns. */
    async function learnShared(store: SharedCounts, layer: SharedLayer, tokens: TokenCounts, lesson: Lesson): Promise<LearnDecision> {
      const counts = live.counts();
      // The store holds only what was learned since the dictionary file was trained; the rule counts both.
      const outside = { nspam: counts.nspam - live.shared.nspam, nham: counts.nham - live.shared.nham };
      const decision = await store.learn(tokens.keys(), lesson.spam, { ...balanceRule, outside });
      // This gateway scores with what the store learned before the next sync reads it back, and only with that.
      if (decision.learned) layer.learned(tokens.keys(), lesson.spam, decision.seq);
      return decision;
    }

    /** Learns a lesson and says so in the log, under the message's queue id. Never throws. */
    async function learn(ctx: HookContext, tokens: TokenCounts, lesson: Lesson): Promise<void> {
      const about = lessonFields(lesson);
      let decision: LearnDecision;
      try {
        decision = shared && sharedLayer ? await learnShared(shared, sharedLayer, tokens, lesson) : learnHere(tokens, lesson);
      } catch (e) {
        // Learning is optional work done after the sender had its answer: a store that fails costs a lesson, never the mail.
        ctx.log.warn('bayes could not learn', { ...about, error: String((e as Error)?.message ?? e) });
        return;
      }
      if (decision.learned) ctx.log.info('bayes learned', { ...about, tokens: tokens.size });
      else ctx.log.info('bayes not learned', { ...about, reason: `balance rule (${decision.nspam} spam, ${decision.nham} ham learned)` });
    }

    /** Holds `work` among the lessons being learned until it ends. */
    function track(work: Promise<void>): Promise<void> {
      learning.add(work);
      const done = () => { learning.delete(work); };
      work.then(done, done);
      return work;
    }

    /** The lesson of the recipients (kept by `data`), else of a certain verdict when `learn_from_verdict` is on. */
    function lessonOf(ctx: HookContext, verdict: Verdict): Lesson | null {
      const fromRecipients = ctx.state.lesson as Lesson | undefined;
      if (fromRecipients) return fromRecipients;
      if (!cfg.learn_from_verdict) return null;
      return verdictLesson(scoreWithout(verdict.findings, PLUGIN), cfg.learn_spam_score, cfg.learn_ham_score);
    }

    /** The message's first `max_bytes`, read once per message for the tokens and the byte model alike. */
    async function headOf(ctx: HookContext, message: MessageView): Promise<Buffer> {
      if (!ctx.state.head) ctx.state.head = await readHead(message, cfg.max_bytes);
      return ctx.state.head as Buffer;
    }

    async function tokensOf(ctx: HookContext, message: MessageView): Promise<TokenCounts> {
      if (ctx.state.tokens) return ctx.state.tokens as TokenCounts;
      const t = tokenize(await headOf(ctx, message), tokOpts);
      ctx.state.tokens = t;
      return t;
    }

    /** Scores the message against the dictionary: a band finding and the probability header. */
    async function scoreMessage(ctx: HookContext, message: MessageView, tokens: TokenCounts | undefined): Promise<void> {
      const counts = live.counts();
      if (counts.nspam < cfg.min_learned || counts.nham < cfg.min_learned) {
        ctx.log.debug('bayes not scoring: dictionary too small', { spam: counts.nspam, ham: counts.nham, min_learned: cfg.min_learned });
        // Said in the header, so that a reader of the message (or a filter behind us) does not take a missing
        // probability for a plugin that was off, nor a neutral number for an opinion.
        if (cfg.header) ctx.addHeader(HEADER, `none; dictionary too small: ${counts.nspam} spam and ${counts.nham} ham learned, ${cfg.min_learned} of each needed`);
        return;
      }
      const head = await headOf(ctx, message);
      const s = tokens ? classify(tokens, counts, scoring, false, scorer.byteTerm(head, counts)) : scorer.score(head, counts);
      ctx.state.probability = s.probability;
      // The band is chosen by the probability as shown, so that the header and the finding never disagree
      // (0.98996 is shown as 0.9900, and is then BAYES_SPAM_99, not BAYES_SPAM_90).
      const shown = shownProbability(s.probability);
      const band = bandOf(Number(shown), cfg.bands);
      if (band) ctx.addFinding(band.symbol, band.score, `p=${shown} tokens=${s.used}`);
      if (cfg.header) ctx.addHeader(HEADER, shown);
    }

    async function onData(ctx: HookContext): Promise<Outcome | void> {
      const message = ctx.message;
      if (!message) return;
      // A probability header that came from outside must never be mistaken for ours.
      if (message.headers.has(HEADER)) ctx.removeHeader(HEADER);
      const lesson = recipientsLesson(ctx.recipients.map((r) => r.address));
      // A trap's mail is for learning only: relayed, it would sit in a mailbox no one reads, or bounce to a forged sender.
      if (cfg.honeypot_delivery === 'discard') {
        for (const r of ctx.recipients) if (isHoneypot(r.address)) ctx.discardRecipient(r.address, 'honeypot');
      }
      const scoreIt = !(cfg.skip_trusted && ctx.session.trusted);
      if (!scoreIt && !lesson && !cfg.learn_from_verdict) return;
      // Learning needs the token strings; scoring alone goes by their hashes. They are taken now, while the
      // spooled message is sure to be there (a refused one is discarded before afterVerdict runs).
      const needsTokens = !!lesson || cfg.learn_from_verdict;
      const tokens = needsTokens ? await tokensOf(ctx, message) : undefined;
      if (scoreIt) await scoreMessage(ctx, message, tokens);
      if (lesson) {
        // Only noted here: learned in afterVerdict, once the message is settled, or a deferred one would be
        // learned again at every retry.
        ctx.state.lesson = lesson;
        ctx.addFinding('BAYES_LESSON', 0, `${lessonFields(lesson).class}: ${lesson.why}`);
      }
    }

    async function onAfterVerdict(ctx: HookContext): Promise<Outcome | void> {
      const verdict = ctx.verdict;
      if (!verdict) return;
      const lesson = lessonOf(ctx, verdict);
      const tokens = ctx.state.tokens as TokenCounts | undefined;
      if (!lesson || !tokens) return;
      if (!settled(verdict.action)) {
        ctx.log.info('bayes not learned', { ...lessonFields(lesson), reason: 'deferred (4xx): learned when a retry is accepted' });
        return;
      }
      await track(learn(ctx, tokens, lesson));
    }

    return {
      hooks: { data: onData, afterVerdict: onAfterVerdict },
      async close() {
        for (const t of timers) clearInterval(t);
        await Promise.allSettled(learning);
        // The instance of a newer config goes on with the dictionary, and flushes it in its turn.
        if (!release()) return;
        // Lessons still waiting for Redis get one short last try, then are counted as lost in the log.
        await shared?.close();
        await live.flush().catch((e) => setup.log.warn('bayes could not save learned counts', { error: String((e as Error)?.message ?? e) }));
        await live.close();
      },
    };
  },
});
