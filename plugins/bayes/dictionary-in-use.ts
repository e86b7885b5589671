// One dictionary file as the running plugin uses it: seeded and loaded once per gateway, kept across config reloads,
// reloaded when its file changes or `moat bayes reload` asks, flushed (or synced through the state store), and
// learned into under the balance rule. The shared dictionary and each recipient dictionary are one of these each.
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import { PluginUnavailableError, type Logger, type PluginSetup } from '../../core/index.ts';
import type { BayesConfig } from './config.ts';
import { DictionaryFileRefused, LiveDictionary } from './live-dictionary.ts';
import { SharedCounts, isSharedStore } from './shared-counts.ts';
import { SharedLayer } from './shared-layer.ts';
import { allows, type BalanceRule, type LearnDecision } from './auto-train.ts';
import { reloadRequestTime } from './reload-request.ts';
import type { TokenCounts } from './engine/tokenizer.ts';
import type { LayeredCounts } from './engine/layered-counts.ts';
import { withLock, writeFileAtomic } from './engine/persist.ts';
import { LessonRecord, recordFileOf, tokensDigest } from './lesson-record.ts';

/** How often a gateway sharing counts reads them all again, besides the lessons logged since its last sync. */
const FULL_READ_EVERY_MS = 10 * 60_000;

/** Why the plugin cannot run, naming what the admin has to mend: it is then disabled, or the start stopped when `required`. */
function unavailable(what: string, e: unknown): PluginUnavailableError {
  return new PluginUnavailableError(`${what}: ${String((e as Error)?.message ?? e)}`);
}

/**
 * Copies the seed dictionary into place when the working one does not exist yet. A seed named in the config that
 * cannot be read is a config error; the shipped one missing leaves an empty dictionary, with a warning.
 */
async function seedDictionary(file: string, seedOption: string, setup: PluginSetup): Promise<void> {
  try { await fsp.access(file); return; } catch { /* absent: seed it */ }
  if (seedOption === 'none') return;
  const seed = seedOption ? path.resolve(setup.configDir, seedOption) : path.join(setup.projectDir, 'dictionaries', 'default.tab');
  let data: Buffer;
  try { data = await fsp.readFile(seed); } catch (e) {
    if (seedOption) throw unavailable(`bayes seed dictionary ${seed} (the seed option) cannot be read, so ${file} cannot be made`, e);
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
 * The dictionary read at start. A file that cannot be read disables the plugin with the reason (the file named); one
 * with malformed lines is used as far as it goes, and the log says so.
 */
async function openDictionary(file: string, seedOption: string, setup: PluginSetup): Promise<LiveDictionary> {
  const live = new LiveDictionary(file);
  let damage: DictionaryFileRefused | null;
  try {
    damage = await live.load();
  } catch (e) {
    // Its file thread must not outlive a plugin that never runs.
    await live.close().catch(() => undefined);
    const again = seedOption === 'none' ? 'to start again empty' : 'to start again from the seed';
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
  /** The quarantined messages learned into this dictionary, and as what (lesson-record.ts). */
  record: LessonRecord;
  /** Lessons of one message, one after the other by queue id: two releases at once must not both forget its spam lesson. */
  turns: Map<string, Promise<unknown>>;
}

interface HeldEntry { users: number; ready: Promise<Held> }

/** Held dictionaries by state store (one per gateway, the same across reloads), then by file and namespace. */
const heldDictionaries = new WeakMap<object, Map<string, HeldEntry>>();

async function openHeld(file: string, seedOption: string, syncInterval: number, setup: PluginSetup, shared: SharedCounts | null): Promise<Held> {
  await seedDictionary(file, seedOption, setup);
  const opened = await LessonRecord.open(recordFileOf(file)).catch((e) => { throw unavailable(`bayes lesson record ${recordFileOf(file)} cannot be read`, e); });
  if (opened.damaged) setup.log.warn('bayes lesson record damaged: starting a new one', { dictionary: file, moved_to: opened.damaged, detail: 'lessons recorded before cannot be forgotten when a recipient releases or blocks their message' });
  const live = await openDictionary(file, seedOption, setup);
  const layer = shared ? new SharedLayer(shared, live, Math.max(FULL_READ_EVERY_MS, syncInterval)) : null;
  let syncing: Promise<'went back' | undefined> | null = null;
  const sync = (): Promise<'went back' | undefined> => {
    if (!layer) return Promise.resolve(undefined);
    syncing ??= layer.sync().finally(() => { syncing = null; });
    return syncing;
  };
  return { live, shared, layer, sync, record: opened.record, turns: new Map() };
}

/** What became of a message's lesson given the record: learned (or not) by the balance rule, or learned already. */
export type MessageDecision = (LearnDecision & { forgot?: 'spam' | 'ham'; notForgotten?: string }) | { already: 'spam' | 'ham' };

export interface DictionaryUse {
  /** The dictionary file. */
  file: string;
  /** `seed` as the config has it (`none`: start empty), for a file that does not exist yet. */
  seed: string;
  /** Key namespace of its shared counts in the state store. */
  namespace: string;
  /** How the log names it besides its file, for the recipient dictionaries (`sales`). */
  label?: string;
}

/** A dictionary file in use by one plugin instance. */
export class DictionaryInUse {
  readonly file: string;
  readonly label: string | undefined;
  readonly live: LiveDictionary;
  private readonly namespace: string;
  private readonly held: Held;
  private readonly release: () => boolean;
  private readonly log: Logger;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(use: DictionaryUse, held: Held, release: () => boolean, log: Logger) {
    this.file = use.file;
    this.label = use.label;
    this.namespace = use.namespace;
    this.held = held;
    this.live = held.live;
    this.release = release;
    this.log = log;
  }

  /** Fields that name this dictionary in a log line. */
  get fields(): { dictionary: string; recipients?: string } {
    return this.label ? { dictionary: this.file, recipients: this.label } : { dictionary: this.file };
  }

  counts(): LayeredCounts {
    return this.live.counts();
  }

  /**
   * Takes the dictionary over from the running config when it holds it already (re-reading the file only if it
   * changed), else seeds and loads it; then starts its timers.
   */
  static async open(use: DictionaryUse, cfg: BayesConfig, setup: PluginSetup): Promise<DictionaryInUse> {
    const store = setup.services.store;
    const sharing = cfg.share_counts === 'on' || (cfg.share_counts === 'auto' && isSharedStore(store));
    const key = `${use.file}\0${sharing ? use.namespace : ''}`;
    let byFile = heldDictionaries.get(store);
    if (!byFile) heldDictionaries.set(store, byFile = new Map());
    let entry = byFile.get(key);
    const running = !!entry;
    if (entry) entry.users++;
    else {
      // Before the dictionary's file thread starts: a store that cannot share fails the start with nothing to stop.
      const shared = sharing ? new SharedCounts(store, use.namespace, { log: setup.log }) : null;
      entry = { users: 1, ready: openHeld(use.file, use.seed, cfg.sync_interval, setup, shared) };
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
    const d = new DictionaryInUse(use, held, release, setup.log);
    if (running) await d.reloadOnConfigReload();
    const counts = d.counts();
    setup.log.info(running ? 'bayes dictionary kept from the running config' : 'bayes dictionary loaded',
      { ...d.fields, tokens: d.live.baseSize, spam: counts.nspam, ham: counts.nham, shared: !!held.shared });
    await d.start(cfg, setup.services.dataDir, running);
    return d;
  }

  /**
   * A config reload re-reads the file only when it changed since it was read (an unchanged one costs nothing), with
   * the care of an automatic reload: a missing, unreadable or damaged file, or one that lost a model, is refused and
   * the running dictionary kept; `moat bayes reload` is the admin's way to take such a file anyway.
   */
  private async reloadOnConfigReload(): Promise<void> {
    try {
      if (await this.live.reloadIfChanged(false)) this.log.info('bayes dictionary reloaded', { ...this.fields, tokens: this.live.baseSize, on: 'config reload' });
    } catch (e) {
      this.warnOf(e, 'bayes dictionary not reloaded');
    }
  }

  private warnOf(e: unknown, otherwise: string): void {
    if (e instanceof DictionaryFileRefused) this.log.warn('bayes dictionary file refused', { ...this.fields, dictionary: e.file, reason: e.reason, detail: e.message });
    else this.log.warn(otherwise, { ...this.fields, error: String((e as Error)?.message ?? e) });
  }

  private every(ms: number, fn: () => Promise<unknown>): void {
    let running = false;
    const t = setInterval(() => {
      if (running) return;
      running = true;
      fn().catch((e) => this.warnOf(e, 'bayes background task failed')).finally(() => { running = false; });
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private async start(cfg: BayesConfig, dataDir: string, running: boolean): Promise<void> {
    let reloadSeen = await reloadRequestTime(dataDir);
    this.every(cfg.reload_check, async () => {
      const requested = await reloadRequestTime(dataDir);
      const force = requested !== reloadSeen;
      reloadSeen = requested;
      if (await this.live.reloadIfChanged(force)) this.log.info('bayes dictionary reloaded', { ...this.fields, tokens: this.live.baseSize, requested: force });
    });
    // Written as often as learned counts are flushed, so that the record and the file's counts mostly agree.
    this.every(cfg.flush_interval, () => this.held.record.save());
    if (!this.held.layer) {
      this.every(cfg.flush_interval, () => this.live.flush());
      return;
    }
    const sync = () => this.held.sync().then((r) => {
      // Said once, when it is noticed: what every gateway had learned through the store is gone from it, and
      // only the admin can tell whether that was meant (a FLUSHALL) or a Redis without persistence restarting.
      if (r === 'went back') this.log.warn('bayes shared counts went back', { ...this.fields, namespace: this.namespace, detail: 'the state store lost lessons it had counted (restarted without persistence, or from older data); scoring with the dictionary file and what the store holds now' });
    });
    if (!running) await sync().catch((e) => this.log.warn('bayes shared counts unavailable', { ...this.fields, error: String((e as Error)?.message ?? e) }));
    this.every(cfg.sync_interval, sync);
  }

  /**
   * Learns `tokens` as spam or ham under the balance rule: here (the check and the learning have no await between
   * them, so concurrent messages see each other's), or in the store, which applies the rule to its own totals.
   */
  async learn(tokens: TokenCounts, spam: boolean, rule: BalanceRule): Promise<LearnDecision> {
    const { shared, layer } = this.held;
    const counts = this.live.counts();
    if (!shared || !layer) {
      if (!allows(rule, spam, counts)) return { learned: false, nspam: counts.nspam, nham: counts.nham };
      this.live.learn(tokens.keys(), spam);
      return { learned: true, nspam: counts.nspam, nham: counts.nham };
    }
    // The store holds only what was learned since the dictionary file was trained; the rule counts both.
    const outside = { nspam: counts.nspam - this.live.shared.nspam, nham: counts.nham - this.live.shared.nham };
    const decision = await shared.learn(tokens.keys(), spam, { ...rule, outside });
    // This gateway scores with what the store learned before the next sync reads it back, and only with that.
    if (decision.learned) layer.learned(tokens.keys(), spam, decision.seq);
    return decision;
  }

  /**
   * Learns the lesson of a quarantined message (queue id `qid`) with the record of what it was learned as before: the
   * same class again is not counted again; the other class first takes the earlier lesson out (sa-learn's and
   * Rspamd's relearning), then learns this one under the balance rule. Without `qid` (a message no recipient can judge
   * later: not quarantined) it is just learned. Lessons of one message run one at a time.
   */
  async learnMessage(qid: string | undefined, tokens: TokenCounts, spam: boolean, rule: BalanceRule): Promise<MessageDecision> {
    if (!qid) return this.learn(tokens, spam, rule);
    return this.inTurn(qid, async (): Promise<MessageDecision> => {
      const rec = this.held.record;
      const before = rec.get(qid);
      const digest = tokensDigest(tokens.keys());
      if (before && before.spam === spam) return { already: spam ? 'spam' : 'ham' };
      let forgot: 'spam' | 'ham' | undefined;
      let notForgotten: string | undefined;
      if (before) {
        const old = before.spam ? 'spam' : 'ham';
        if (before.digest !== digest) notForgotten = `its tokens are not those it was learned as ${old} by (max_bytes or the tokenizer changed since)`;
        else {
          try {
            await this.forget([...tokens.keys()], before.spam);
            forgot = old;
          } catch (e) {
            notForgotten = String((e as Error)?.message ?? e);
          }
        }
        // The earlier lesson is out, or cannot be taken out: either way the record no longer stands for it.
        rec.delete(qid);
      }
      const decision = await this.learn(tokens, spam, rule);
      if (decision.learned) rec.set(qid, { spam, digest });
      return { ...decision, ...(forgot ? { forgot } : {}), ...(notForgotten ? { notForgotten } : {}) };
    });
  }

  /** Takes an earlier lesson out of the counts: here (file and learned layers), or in the store and this gateway's view of it. */
  private async forget(tokens: string[], spam: boolean): Promise<void> {
    const { shared, layer } = this.held;
    if (!shared || !layer) {
      await this.live.forget(tokens, spam);
      return;
    }
    layer.forgot(await shared.forget(tokens, spam), spam);
  }

  private inTurn<T>(qid: string, fn: () => Promise<T>): Promise<T> {
    const turns = this.held.turns;
    const mine = (turns.get(qid) ?? Promise.resolve()).then(fn, fn);
    const tail = mine.catch(() => undefined);
    turns.set(qid, tail);
    void tail.then(() => { if (turns.get(qid) === tail) turns.delete(qid); });
    return mine;
  }

  /** Stops its timers; the last instance using the dictionary saves what it learned and closes it. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    // The instance of a newer config goes on with the dictionary, and flushes it in its turn.
    if (!this.release()) return;
    // Lessons still waiting for Redis get one short last try, then are counted as lost in the log.
    await this.held.shared?.close();
    await this.live.flush().catch((e) => this.log.warn('bayes could not save learned counts', { ...this.fields, error: String((e as Error)?.message ?? e) }));
    await this.held.record.save().catch((e) => this.log.warn('bayes could not save the lesson record', { ...this.fields, record: this.held.record.file, error: String((e as Error)?.message ?? e) }));
    await this.live.close();
  }
}
