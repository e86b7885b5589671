// Learned token counts kept in the state store, so gateways sharing a Redis store learn from each other.
// With Redis, a message is learned by one Lua script: it reads the class totals, applies the balance rule, and
// only then adds the message's token counts and its class total, all or nothing. Two things depend on that
// being one step: a command timeout or a dying server can no longer leave token counts without their message,
// and concurrent sessions and other gateways can no longer all pass the balance rule on the same stale totals.
// The same script appends the lesson to a log (a Redis stream, numbered by a counter), so each gateway reads back
// only what was learned since its last sync (shared-layer.ts); the counters are read whole at start, now and then,
// and when the log was trimmed past what a gateway has read, each step of that read noting the log's counter so
// that a lesson learned meanwhile is counted once (`readAtLogPosition`).
//
// A lesson Redis does not take (down, or its answer lost) waits in a bounded backlog (lesson-backlog.ts) and is sent
// again, in learning order, with the id it was first sent with, once Redis answers: by the next sync, or by a last
// try at stop. Before, it was dropped, and every honeypot message of an outage taught nothing.
import { randomBytes } from 'node:crypto';
import type { Logger, StateStore } from '../../core/index.ts';
import { Dictionary } from './engine/dictionary.ts';
import { allows, type BalanceRule, type LearnDecision } from './auto-train.ts';
import { LessonBacklog, type WaitingLesson } from './lesson-backlog.ts';
import { subtractCounts } from './unlearn.ts';

/** The balance rule, and the messages counted outside the store (the dictionary file's) that it must count too. */
export interface SharedBalance extends BalanceRule {
  outside: { nspam: number; nham: number };
}

// KEYS: the spam total, the ham total, the log, its counter, the recent lessons' ids, then the message's token keys in
// the class learned. ARGV: 1 (spam) or 0 (ham); 1 with the balance rule on; its slack; spam and ham counted outside
// the store; the log's length; the lesson's id. A token key is the spam total's key with `ns` replaced by `s:` or `h:`
// and the token, so the token starts one character after the spam total's key length.
// The id makes a call that runs twice count once: ioredis sends a command again after a reconnect when its answer
// never came, so a script that ran just before its Redis died (and was kept by the AOF) or whose answer was lost with
// the connection ran again once the store was back, and its lesson was counted twice. The ids of the newest lessons
// (as many as the log keeps) are held in a sorted set by lesson number; a second run answers as the first did.
// The balance test is auto-train.ts `balanced` (a test holds the two to the same answers).
const LEARN_ONCE_IF_BALANCED = `
local done = redis.call('ZSCORE', KEYS[5], ARGV[7])
local nspam = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[4])
local nham = tonumber(redis.call('GET', KEYS[2]) or '0') + tonumber(ARGV[5])
if done then return {1, nspam, nham, tonumber(done)} end
local spam = ARGV[1] == '1'
if ARGV[2] == '1' then
  local slack = tonumber(ARGV[3])
  if (spam and nham + slack < nspam) or (not spam and nspam + slack < nham) then return {0, nspam, nham, 0} end
end
local tokens = {}
local from = #KEYS[1] + 1
for i = 6, #KEYS do
  redis.call('INCRBY', KEYS[i], 1)
  tokens[#tokens + 1] = string.sub(KEYS[i], from)
end
redis.call('INCRBY', spam and KEYS[1] or KEYS[2], 1)
local seq = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'seq', seq, 'spam', ARGV[1], 'tokens', table.concat(tokens, '\\n'))
redis.call('ZADD', KEYS[5], seq, ARGV[7])
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -tonumber(ARGV[6]) - 1)
return {1, nspam, nham, seq}`;

// KEYS: the spam total, the ham total, the log, its counter, the recent lessons' ids, then the message's token keys in
// the class forgotten. ARGV: 1 (spam) or 0 (ham); the log's length; the forgetting's id. Takes an earlier lesson of a
// message back out: each token counter and the class total go down by one, never below zero, and the log gets the
// lesson with `forget` set and only the tokens that were counted, so every gateway takes out exactly what Redis did.
// The id makes a call sent again count once, as for learning. Returns the forgetting's number in the log and its tokens;
// a second run returns 0 and no tokens, and the gateway then takes the forgetting from the log like another gateway's.
const FORGET_ONCE = `
local done = redis.call('ZSCORE', KEYS[5], ARGV[3])
if done then return {0, {}} end
local tokens = {}
local from = #KEYS[1] + 1
for i = 6, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then
    redis.call('DECRBY', KEYS[i], 1)
    tokens[#tokens + 1] = string.sub(KEYS[i], from)
  end
end
local total = ARGV[1] == '1' and KEYS[1] or KEYS[2]
if tonumber(redis.call('GET', total) or '0') > 0 then redis.call('DECRBY', total, 1) end
local seq = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'spam', ARGV[1], 'forget', '1', 'tokens', table.concat(tokens, '\\n'))
redis.call('ZADD', KEYS[5], seq, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -tonumber(ARGV[2]) - 1)
return {seq, tokens}`;

// KEYS: the log, its counter. ARGV: the id after which to read ('0': from the start); how many entries at most. The
// counter comes with the entries, read at the same instant, so that a counter gone back (Redis emptied, or restored
// from older data) shows even when no lesson has been logged since.
const READ_LOG = `
local from = ARGV[1] == '0' and '-' or ('(' .. ARGV[1])
return {tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', tonumber(ARGV[2]))}`;

// KEYS: the log, its counter. The newest entry's id and number, or '0' and the counter when the log is empty.
const LOG_END = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last then
  local f = last[2]
  for i = 1, #f, 2 do if f[i] == 'seq' then return {last[1], tonumber(f[i + 1])} end end
end
return {'0', tonumber(redis.call('GET', KEYS[2]) or '0')}`;

// KEYS: the spam total, the log's counter. ARGV: the SCAN cursor; its COUNT. One step of a whole read: the counters
// SCAN finds from the cursor, with their values and the log's counter at that same instant, so every value read is
// known to hold exactly the lessons numbered up to that counter. Keys come back without the namespace's prefix
// (`ns`, `nh`, `s:token`, `h:token`); a value that is not a string counter comes back empty.
const SCAN_CHUNK = `
local base = string.sub(KEYS[1], 1, #KEYS[1] - 2)
local pattern = string.gsub(base, '[%*%?%[%]%^\\\\]', '\\\\%0') .. '*'
local r = redis.call('SCAN', ARGV[1], 'MATCH', pattern, 'COUNT', tonumber(ARGV[2]))
local out = {r[1], tonumber(redis.call('GET', KEYS[2]) or '0')}
for _, key in ipairs(r[2]) do
  local ok, value = pcall(redis.call, 'GET', key)
  out[#out + 1] = string.sub(key, #base + 1)
  out[#out + 1] = (ok and value) or ''
end
return out`;

/** Lessons the log keeps (about 4 KB each). A gateway that falls further behind than this reads all counters again. */
export const LOG_LENGTH = 5000;

/** Counters SCAN asks Redis to look at per step of a whole read. */
const SCAN_COUNT = 1000;
/** Lessons read from the log per request. */
export const LOG_BATCH = 500;

/** One step of a whole read: the counters found, and the number of the last lesson their values hold. */
export interface CountersChunk { cursor: string; seq: number; entries: Array<[key: string, value: string]> }

/** Every shared count as it stood just after the lesson numbered `seq` (id `id` in the log; '0' when it had none). */
export interface CountsAtLesson { dict: Dictionary; id: string; seq: number }

/** One lesson from the log: its number, its class and its tokens; `forget`: an earlier lesson taken back out. */
export interface LoggedLesson { id: string; seq: number; spam: boolean; tokens: string[]; forget?: boolean }

/** An earlier lesson taken out of the store: its number in the log (with Redis), and the tokens whose counts went down. */
export interface Forgotten { seq?: number; tokens: string[] }

/** What the store decided for a lesson, and, when learned through the log, the lesson's number in it. */
export interface SharedDecision extends LearnDecision { seq?: number }

const SCRIPT = 'mmBayesLearnOnce';

/** What follows the lessons left in the backlog: the gateway's own view applies them meanwhile (shared-layer.ts). */
export interface BacklogFollower {
  /** A lesson now waits in the backlog: its learner was told so and will not apply it. */
  queued(lesson: WaitingLesson): void;
  /** A waiting lesson's end: the store's decision, or null when it was dropped or refused for good. */
  settled(lesson: WaitingLesson, decision: SharedDecision | null): void;
}

/** The lesson was not learned yet: Redis did not take it, and it waits in the backlog to be sent when Redis answers. */
export class LessonQueued extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LessonQueued';
  }
}

export interface SharedCountsOptions {
  /** Where the backlog says what became of the lessons it kept (sent, dropped past its bounds, lost at stop). */
  log?: Logger;
  backlogLessons?: number;
  backlogTokens?: number;
}

/**
 * Whether a failed call may succeed later. Anything but an answer from Redis (connection refused or lost, a timeout,
 * the client's retries used up) may have reached it or not, and is sent again; so are Redis's own temporary refusals.
 * Any other error reply (a script error, say) would come back every time, and would hold up every lesson behind it.
 */
function worthRetrying(e: unknown): boolean {
  const err = e as Error;
  if (err?.name !== 'ReplyError') return true;
  return /^(LOADING|BUSY|OOM|READONLY|MASTERDOWN|TRYAGAIN|NOREPLICAS|CLUSTERDOWN|NOAUTH|WRONGPASS)\b/.test(String(err.message));
}

const reason = (e: unknown) => String((e as Error)?.message ?? e);
const lessons = (n: number) => `${n} lesson${n === 1 ? '' : 's'}`;

export class SharedCounts {
  private store: StateStore;
  private prefix: string;
  /** Without Redis: the previous message's learning, which the next one waits for. */
  private last: Promise<unknown> = Promise.resolve();

  /** The log's key and its counter's, outside `prefix`, so that reading the counters never meets them. */
  private log: string;
  private logSeq: string;
  /** The newest lessons' ids, so that a call sent again is not counted again (outside `prefix` too). */
  private lessonIds: string;

  private readonly logger: Logger | undefined;
  private readonly backlog: LessonBacklog;
  /**
   * The backlog's lesson being sent, out of the backlog meanwhile: Redis may be running it, so a full backlog drops
   * older lessons than it only once its call failed and it is back in line (the bound is the backlog's, plus this one).
   */
  private inFlight: WaitingLesson | null = null;
  /** Learners waiting for their lesson's turn in the backlog while Redis answers; told LessonQueued if it stops. */
  private readonly waiters = new Map<WaitingLesson, { resolve(d: SharedDecision): void; reject(e: Error): void }>();
  private follower: BacklogFollower | null = null;
  /** False from a call Redis did not answer until one it answers: new lessons then go straight to the backlog. */
  private reachable = true;
  private draining: Promise<void> | null = null;
  private order = 0;
  private closed = false;
  /** What the backlog's lessons came to since it last emptied, for the one line that says so. */
  private tally = { learned: 0, refused: 0 };

  constructor(store: StateStore, namespace: string, opts: SharedCountsOptions = {}) {
    this.store = store;
    this.prefix = `bayes:${namespace}:`;
    this.log = `bayes-log:${namespace}`;
    this.logSeq = `bayes-log:${namespace}:seq`;
    this.lessonIds = `bayes-log:${namespace}:ids`;
    this.logger = opts.log;
    this.backlog = new LessonBacklog(opts.backlogLessons, opts.backlogTokens);
    // Gateways sharing Redis rely on the script for the balance rule between them: never fall back silently.
    if (isSharedStore(store) && !store.script) throw new Error('the shared state store runs no scripts, so bayes cannot learn through it as one step');
  }

  /** Lessons waiting for Redis, the one being sent included. */
  get waiting(): number { return this.backlog.size + (this.inFlight ? 1 : 0); }

  /** Gives the lessons left in the backlog to `follower` (one: the gateway's shared layer). */
  follow(follower: BacklogFollower): void { this.follower = follower; }

  /**
   * Learns one message if the balance rule allows it, judged on the store's totals at that moment. With Redis, a
   * lesson it does not take is kept in the backlog and LessonQueued thrown: the learner's part ends there, and the
   * follower applies the lesson meanwhile.
   */
  async learn(tokens: Iterable<string>, isSpam: boolean, rule: SharedBalance): Promise<SharedDecision> {
    const script = this.store.script?.bind(this.store);
    if (!script) {
      const next = this.last.then(() => this.learnByCommands(tokens, isSpam, rule));
      this.last = next.catch(() => undefined);
      return next;
    }
    const lesson: WaitingLesson = { order: this.order++, id: randomBytes(12).toString('base64url'), tokens: [...tokens], spam: isSpam, rule };
    if (this.closed) throw new Error('bayes shared counts are closed');
    if (!this.reachable) {
      // Sent by the next sync, which tries Redis again: a try per lesson would stack calls on a dead connection.
      this.keep(lesson);
      throw this.queuedError('Redis has not answered since an earlier lesson failed');
    }
    if (this.waiting > 0) {
      // Lessons learned before this one are being sent: it takes its turn after them, in learning order.
      const turn = new Promise<SharedDecision>((resolve, reject) => this.waiters.set(lesson, { resolve, reject }));
      this.addToBacklog(lesson);
      void this.drain();
      return turn;
    }
    try {
      return await this.learnByScript(script, lesson);
    } catch (e) {
      if (!worthRetrying(e) || this.closed) throw e;
      this.reachable = false;
      this.keep(lesson);
      throw this.queuedError(reason(e));
    }
  }

  /**
   * Takes an earlier lesson of a message (its class, its tokens) back out of the store's counts, never below zero.
   * Refused while lessons wait for Redis: the lesson to forget may be among them, and would be counted after.
   */
  async forget(tokens: Iterable<string>, isSpam: boolean): Promise<Forgotten> {
    const script = this.store.script?.bind(this.store);
    const list = [...tokens];
    if (!script) {
      if (this.closed) throw new Error('bayes shared counts are closed');
      // One step at a time behind the lessons (this.last), so a read and its decrement see no other change between them.
      const next = this.last.then(async () => {
        const cls = isSpam ? 's' : 'h';
        const taken: string[] = [];
        for (const t of list) if (await this.decrementAboveZero(`${this.prefix}${cls}:${t}`)) taken.push(t);
        await this.decrementAboveZero(`${this.prefix}n${cls}`);
        return { tokens: taken };
      });
      this.last = next.catch(() => undefined);
      return next;
    }
    if (this.closed) throw new Error('bayes shared counts are closed');
    if (this.waiting > 0 || !this.reachable) throw new Error(`Redis has not taken ${lessons(this.waiting)} yet, among which the lesson to forget may be`);
    const cls = isSpam ? 's' : 'h';
    const keys = [`${this.prefix}ns`, `${this.prefix}nh`, this.log, this.logSeq, this.lessonIds];
    for (const t of list) keys.push(`${this.prefix}${cls}:${t}`);
    const [seq, taken] = await script('mmBayesForgetOnce', FORGET_ONCE, keys, [isSpam ? 1 : 0, LOG_LENGTH, randomBytes(12).toString('base64url')]) as [number, string[]];
    return Number(seq) > 0 ? { seq: Number(seq), tokens: taken.map(String) } : { tokens: [] };
  }

  /** Takes one off the count at `key` when it is above zero, as the Redis script does; whether it did. */
  private async decrementAboveZero(key: string): Promise<boolean> {
    if (Number(await this.store.get(key) ?? 0) <= 0) return false;
    await this.store.incr(key, -1);
    return true;
  }

  /**
   * Sends the backlog's lessons in order until it is empty or Redis fails to answer one (which stays first). One run
   * at a time; never throws.
   */
  drain(): Promise<void> {
    this.draining ??= this.sendBacklog().finally(() => {
      this.draining = null;
      // A lesson that joined as the run ended would otherwise wait for the next sync, its learner (and a stop) with it.
      if (this.waiters.size > 0 && !this.closed) void this.drain();
    });
    return this.draining;
  }

  /**
   * Stops sending: tries the backlog once more for up to `lastTryMs`, then drops what is left and says how many
   * lessons that loses (the one being sent among them). Returns that number. Never waits longer than `lastTryMs`.
   */
  async close(lastTryMs = 2000): Promise<number> {
    if (this.closed) return 0;
    if (this.waiting > 0 && this.store.script) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.drain(), new Promise((r) => { timer = setTimeout(r, lastTryMs); })]);
      clearTimeout(timer);
    }
    this.closed = true;
    const left = this.backlog.clear();
    const sending = this.inFlight ? 1 : 0;
    for (const l of left) this.settle(l, null, new Error('the gateway stopped before Redis took the lesson'));
    this.sayDropped();
    const lost = left.length + sending;
    if (lost > 0) {
      this.logger?.warn('bayes lessons lost at stop', {
        lessons: lost,
        detail: `Redis did not take ${lessons(lost)} of the backlog before the gateway stopped` + (sending ? ' (one of them was being sent, and counts if Redis ran it)' : ''),
      });
    }
    return lost;
  }

  /** Every shared count, as a dictionary. */
  async read(): Promise<Dictionary> {
    const d = new Dictionary();
    const skip = this.prefix.length;
    for await (const [key, value] of this.store.scan(this.prefix)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) continue;
      const rest = key.slice(skip);
      if (rest === 'ns') d.nspam = n;
      else if (rest === 'nh') d.nham = n;
      else if (rest.startsWith('s:')) d.add(rest.slice(2), n, 0);
      else if (rest.startsWith('h:')) d.add(rest.slice(2), 0, n);
    }
    return d;
  }

  /**
   * Every shared count as of one lesson of the log, with no lesson counted twice or missed (Redis only). The counters
   * are read in steps while lessons go on being learned, so one step sees a lesson that an earlier step missed; each
   * step therefore notes the log's counter as it reads, and a counter's value minus the logged lessons up to that
   * counter is its value when the read began. The lessons logged since then are added back, and the result is the
   * store as it stood after the last of them, from which the log takes over. Throws when the log no longer holds
   * those lessons (trimmed, or Redis emptied) twice running.
   */
  async readAtLogPosition(): Promise<CountsAtLesson> {
    for (let attempt = 0; ; attempt++) {
      const read = await this.tryReadAtLogPosition();
      if (read) return read;
      if (attempt >= 1) throw new Error('the shared bayes counts changed faster than the lesson log could account for while they were read');
    }
  }

  /** One step of a whole read from `cursor` ('0' at the start; the returned cursor is '0' at the end). */
  async scanChunk(cursor: string): Promise<CountersChunk> {
    const r = await this.store.script!('mmBayesScanChunk', SCAN_CHUNK, [`${this.prefix}ns`, this.logSeq], [cursor, SCAN_COUNT]) as Array<string | number>;
    const entries: Array<[string, string]> = [];
    for (let i = 2; i + 1 < r.length; i += 2) entries.push([String(r[i]), String(r[i + 1])]);
    return { cursor: String(r[0]), seq: Number(r[1]), entries };
  }

  /** A whole read as `readAtLogPosition` describes it, or null when the log could not account for every lesson. */
  private async tryReadAtLogPosition(): Promise<CountsAtLesson | null> {
    const start = await this.logEnd();
    const dict = new Dictionary();
    // The lessons logged since the read began, up to the last step's counter, as counts; and those read beyond it.
    const since = new Dictionary();
    // The lessons forgotten since then, as the counts they took out.
    const sinceForgot = new Dictionary();
    let at = { id: start.id, seq: start.seq };
    let readTo = start.id;
    const ahead: LoggedLesson[] = [];
    let cursor = '0';
    do {
      const chunk = await this.scanChunk(cursor);
      cursor = chunk.cursor;
      if (chunk.seq < at.seq) return null; // the counter went back: Redis was emptied
      while (at.seq < chunk.seq) {
        if (ahead.length === 0) {
          const more = await this.lessonsAfter(readTo, LOG_BATCH);
          if (more.length === 0) return null;
          readTo = more[more.length - 1].id;
          ahead.push(...more);
        }
        const lesson = ahead.shift()!;
        if (lesson.seq !== at.seq + 1) return null; // trimmed past lessons the counters already hold
        (lesson.forget ? sinceForgot : since).learn(lesson.tokens, lesson.spam);
        at = { id: lesson.id, seq: lesson.seq };
      }
      for (const [rest, value] of chunk.entries) {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0) continue;
        // The value holds the lessons up to chunk.seq; without those logged since the start, it is the start's. Set,
        // not added: SCAN may return a key twice.
        if (rest === 'ns') dict.nspam = Math.max(0, n - since.nspam + sinceForgot.nspam);
        else if (rest === 'nh') dict.nham = Math.max(0, n - since.nham + sinceForgot.nham);
        else if (rest.startsWith('s:')) {
          const t = rest.slice(2);
          const change = Math.max(0, n - since.spamOf(t) + sinceForgot.spamOf(t)) - dict.spamOf(t);
          if (change !== 0) dict.add(t, change, 0);
        } else if (rest.startsWith('h:')) {
          const t = rest.slice(2);
          const change = Math.max(0, n - since.hamOf(t) + sinceForgot.hamOf(t)) - dict.hamOf(t);
          if (change !== 0) dict.add(t, 0, change);
        }
      }
    } while (cursor !== '0');
    dict.merge(since);
    subtractCounts(dict, sinceForgot);
    return { dict, ...at };
  }

  /** True when lessons are logged (Redis): a gateway can then read only what is new. */
  get logged(): boolean { return !!this.store.script; }

  /** The newest logged lesson's id and number (id '0' when the log is empty). */
  async logEnd(): Promise<{ id: string; seq: number }> {
    const [id, seq] = await this.store.script!('mmBayesLogEnd', LOG_END, [this.log, this.logSeq], []) as [string, number];
    return { id: String(id), seq: Number(seq) };
  }

  /** Up to `max` lessons logged after the one with id `after` ('0': from the oldest kept), oldest first. */
  async lessonsAfter(after: string, max: number): Promise<LoggedLesson[]> {
    return (await this.logAfter(after, max)).lessons;
  }

  /** `lessonsAfter`, with the log's counter (the number of the last lesson logged) at the same instant. */
  async logAfter(after: string, max: number): Promise<{ seq: number; lessons: LoggedLesson[] }> {
    const [seq, entries] = await this.store.script!('mmBayesReadLogAt', READ_LOG, [this.log, this.logSeq], [after, max]) as [number, Array<[string, string[]]>];
    return { seq: Number(seq), lessons: entries.map(([id, fields]) => {
      const f = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i], fields[i + 1]);
      const tokens = f.get('tokens') ?? '';
      return { id, seq: Number(f.get('seq')), spam: f.get('spam') === '1', tokens: tokens ? tokens.split('\n') : [], ...(f.get('forget') === '1' ? { forget: true } : {}) };
    }) };
  }

  private async learnByScript(script: NonNullable<StateStore['script']>, lesson: WaitingLesson): Promise<SharedDecision> {
    const cls = lesson.spam ? 's' : 'h';
    const keys = [`${this.prefix}ns`, `${this.prefix}nh`, this.log, this.logSeq, this.lessonIds];
    for (const t of lesson.tokens) keys.push(`${this.prefix}${cls}:${t}`);
    const { rule } = lesson;
    const args = [lesson.spam ? 1 : 0, rule.balance ? 1 : 0, rule.slack, rule.outside.nspam, rule.outside.nham, LOG_LENGTH, lesson.id];
    const [learned, nspam, nham, seq] = await script(SCRIPT, LEARN_ONCE_IF_BALANCED, keys, args) as [number, number, number, number];
    return learned === 1 ? { learned: true, nspam, nham, seq } : { learned: false, nspam, nham };
  }

  /** Puts a lesson whose learner gives up on it in the backlog, for the follower to apply meanwhile. */
  private keep(lesson: WaitingLesson): void {
    this.follower?.queued(lesson);
    this.addToBacklog(lesson);
  }

  /** Adds to the backlog; the lessons dropped past its bounds end there. Returns how many were dropped. */
  private addToBacklog(lesson: WaitingLesson): number {
    const gone = this.backlog.add(lesson);
    for (const l of gone) this.settle(l, null, new LessonQueued(`dropped from the full bayes lesson backlog (${this.backlog.limits.lessons} lessons, ${this.backlog.limits.tokens} tokens) before Redis took it`));
    return gone.length;
  }

  /** What the learner of a lesson just kept is told (the lesson is the backlog's newest, or its turn was stopped). */
  private queuedError(why: string): LessonQueued {
    const others = this.waiting - 1;
    const limits = this.backlog.limits;
    const dropped = this.backlog.dropped;
    return new LessonQueued(`Redis did not take the lesson (${why}); kept in memory with ${lessons(others)} before it, to be sent in order when Redis answers` +
      ` (at most ${limits.lessons} lessons and ${limits.tokens} tokens are kept; past that the oldest are dropped` +
      (dropped ? `, as ${lessons(dropped)} already were` : '') + ')');
  }

  private async sendBacklog(): Promise<void> {
    const script = this.store.script?.bind(this.store);
    if (!script) return;
    for (let lesson = this.backlog.first(); lesson && !this.closed; lesson = this.backlog.first()) {
      this.backlog.remove(lesson);
      this.inFlight = lesson;
      let decision: SharedDecision;
      try {
        decision = await this.learnByScript(script, lesson);
      } catch (e) {
        this.inFlight = null;
        if (this.closed) {
          this.settle(lesson, null, e as Error);
          return;
        }
        if (!worthRetrying(e)) {
          this.settle(lesson, null, e as Error);
          continue;
        }
        this.reachable = false;
        this.addToBacklog(lesson);
        // Learners waiting their turn stop waiting: their lessons stay in the backlog, applied by the follower.
        for (const [l, w] of [...this.waiters]) {
          this.waiters.delete(l);
          this.follower?.queued(l);
          w.reject(this.queuedError(reason(e)));
        }
        return;
      }
      this.inFlight = null;
      this.reachable = true;
      this.settle(lesson, decision);
    }
    if (this.waiting === 0) this.sayDropped(true);
  }

  /** A lesson of the backlog is done: its waiting learner, or else the follower, hears how. */
  private settle(lesson: WaitingLesson, decision: SharedDecision | null, error?: Error): void {
    const w = this.waiters.get(lesson);
    if (w) {
      this.waiters.delete(lesson);
      if (decision) w.resolve(decision);
      else w.reject(error ?? new Error('the lesson was not learned'));
      return;
    }
    if (decision?.learned) this.tally.learned++;
    else if (decision) this.tally.refused++;
    this.follower?.settled(lesson, decision);
    if (!decision && error && !(error instanceof LessonQueued) && !this.closed) {
      this.logger?.warn('bayes could not learn', { from: 'backlog', error: reason(error) });
    }
  }

  /** One line for an outage's backlog once it is sent (or at stop): what it came to, and how many lessons it dropped. */
  private sayDropped(sent = false): void {
    const dropped = this.backlog.takeDropped();
    const { learned, refused } = this.tally;
    if (sent && learned + refused > 0) {
      this.logger?.info('bayes lesson backlog sent', { learned, not_learned: refused, detail: 'lessons kept while Redis did not answer, sent in order; not learned: the balance rule' });
    }
    this.tally = { learned: 0, refused: 0 };
    if (dropped > 0) {
      const { lessons: maxLessons, tokens: maxTokens } = this.backlog.limits;
      this.logger?.warn('bayes lesson backlog overflowed', {
        dropped,
        detail: `the oldest ${lessons(dropped)} kept while Redis did not answer were dropped to stay within ${maxLessons} lessons and ${maxTokens} tokens, and never learned`,
      });
    }
  }

  /**
   * Any other store (`share_counts: on` without Redis) runs no scripts: messages are learned one at a time
   * in this process, so the balance rule holds here, but not between processes, and a process that dies
   * midway leaves a message's token counts without its total.
   */
  private async learnByCommands(tokens: Iterable<string>, isSpam: boolean, rule: SharedBalance): Promise<LearnDecision> {
    const nspam = Number(await this.store.get(`${this.prefix}ns`) ?? 0) + rule.outside.nspam;
    const nham = Number(await this.store.get(`${this.prefix}nh`) ?? 0) + rule.outside.nham;
    if (!allows(rule, isSpam, { nspam, nham })) return { learned: false, nspam, nham };
    const cls = isSpam ? 's' : 'h';
    const ops: Array<Promise<number>> = [];
    for (const t of tokens) ops.push(this.store.incr(`${this.prefix}${cls}:${t}`, 1));
    await Promise.all(ops);
    await this.store.incr(`${this.prefix}n${cls}`, 1);
    return { learned: true, nspam, nham };
  }
}

/** True when the store is shared between gateways (Redis), judged by its class. */
export function isSharedStore(store: StateStore): boolean {
  return /redis/i.test(store.constructor?.name ?? '');
}
