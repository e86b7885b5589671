// Learned token counts kept in the state store, so gateways sharing a Redis store learn from each other.
// With Redis, a message is learned by one Lua script: it reads the class totals, applies the balance rule, and
// only then adds the message's token counts and its class total, all or nothing. Two things depend on that
// being one step: a command timeout or a dying server can no longer leave token counts without their message,
// and concurrent sessions and other gateways can no longer all pass the balance rule on the same stale totals.
// The same script appends the lesson to a log (a Redis stream, numbered by a counter), so each gateway reads back
// only what was learned since its last sync (shared-layer.ts); the counters are read whole at start, now and then,
// and when the log was trimmed past what a gateway has read, each step of that read noting the log's counter so
// that a lesson learned meanwhile is counted once (`readAtLogPosition`).
import { randomBytes } from 'node:crypto';
import type { StateStore } from '../../core/index.ts';
import { Dictionary } from './engine/dictionary.ts';
import { allows, type BalanceRule, type LearnDecision } from './auto-train.ts';

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

/** One lesson from the log: its number, its class and its tokens. */
export interface LoggedLesson { id: string; seq: number; spam: boolean; tokens: string[] }

/** What the store decided for a lesson, and, when learned through the log, the lesson's number in it. */
export interface SharedDecision extends LearnDecision { seq?: number }

const SCRIPT = 'mmBayesLearnOnce';

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

  constructor(store: StateStore, namespace: string) {
    this.store = store;
    this.prefix = `bayes:${namespace}:`;
    this.log = `bayes-log:${namespace}`;
    this.logSeq = `bayes-log:${namespace}:seq`;
    this.lessonIds = `bayes-log:${namespace}:ids`;
    // Gateways sharing Redis rely on the script for the balance rule between them: never fall back silently.
    if (isSharedStore(store) && !store.script) throw new Error('the shared state store runs no scripts, so bayes cannot learn through it as one step');
  }

  /** Learns one message if the balance rule allows it, judged on the store's totals at that moment. */
  async learn(tokens: Iterable<string>, isSpam: boolean, rule: SharedBalance): Promise<SharedDecision> {
    if (this.store.script) return this.learnByScript(this.store.script.bind(this.store), tokens, isSpam, rule);
    const next = this.last.then(() => this.learnByCommands(tokens, isSpam, rule));
    this.last = next.catch(() => undefined);
    return next;
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
        since.learn(lesson.tokens, lesson.spam);
        at = { id: lesson.id, seq: lesson.seq };
      }
      for (const [rest, value] of chunk.entries) {
        const n = Number(value);
        if (!Number.isFinite(n) || n <= 0) continue;
        // The value holds the lessons up to chunk.seq; without those logged since the start, it is the start's. Set,
        // not added: SCAN may return a key twice.
        if (rest === 'ns') dict.nspam = Math.max(0, n - since.nspam);
        else if (rest === 'nh') dict.nham = Math.max(0, n - since.nham);
        else if (rest.startsWith('s:')) {
          const t = rest.slice(2);
          const change = Math.max(0, n - since.spamOf(t)) - dict.spamOf(t);
          if (change !== 0) dict.add(t, change, 0);
        } else if (rest.startsWith('h:')) {
          const t = rest.slice(2);
          const change = Math.max(0, n - since.hamOf(t)) - dict.hamOf(t);
          if (change !== 0) dict.add(t, 0, change);
        }
      }
    } while (cursor !== '0');
    dict.merge(since);
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
      return { id, seq: Number(f.get('seq')), spam: f.get('spam') === '1', tokens: tokens ? tokens.split('\n') : [] };
    }) };
  }

  private async learnByScript(script: NonNullable<StateStore['script']>, tokens: Iterable<string>, isSpam: boolean, rule: SharedBalance): Promise<SharedDecision> {
    const cls = isSpam ? 's' : 'h';
    const keys = [`${this.prefix}ns`, `${this.prefix}nh`, this.log, this.logSeq, this.lessonIds];
    for (const t of tokens) keys.push(`${this.prefix}${cls}:${t}`);
    const args = [isSpam ? 1 : 0, rule.balance ? 1 : 0, rule.slack, rule.outside.nspam, rule.outside.nham, LOG_LENGTH, randomBytes(12).toString('base64url')];
    const [learned, nspam, nham, seq] = await script(SCRIPT, LEARN_ONCE_IF_BALANCED, keys, args) as [number, number, number, number];
    return learned === 1 ? { learned: true, nspam, nham, seq } : { learned: false, nspam, nham };
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
