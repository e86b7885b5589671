// Learned token counts kept in the state store, so gateways sharing a Redis store learn from each other.
// With Redis, a message is learned by one Lua script: it reads the class totals, applies the balance rule, and
// only then adds the message's token counts and its class total, all or nothing. Two things depend on that
// being one step: a command timeout or a dying server can no longer leave token counts without their message,
// and concurrent sessions and other gateways can no longer all pass the balance rule on the same stale totals.
// Each gateway reads the counters back every sync interval into a dictionary layer of its own.
import type { StateStore } from '../../core/index.ts';
import { Dictionary } from './engine/dictionary.ts';
import { allows, type BalanceRule, type LearnDecision } from './auto-train.ts';

/** The balance rule, and the messages counted outside the store (the dictionary file's) that it must count too. */
export interface SharedBalance extends BalanceRule {
  outside: { nspam: number; nham: number };
}

// KEYS: the spam total, the ham total, then the message's token keys in the class learned.
// ARGV: 1 (spam) or 0 (ham); 1 with the balance rule on; its slack; spam and ham counted outside the store.
// The balance test is auto-train.ts `balanced` (a test holds the two to the same answers).
const LEARN_IF_BALANCED = `
local nspam = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[4])
local nham = tonumber(redis.call('GET', KEYS[2]) or '0') + tonumber(ARGV[5])
local spam = ARGV[1] == '1'
if ARGV[2] == '1' then
  local slack = tonumber(ARGV[3])
  if (spam and nham + slack < nspam) or (not spam and nspam + slack < nham) then return {0, nspam, nham} end
end
for i = 3, #KEYS do redis.call('INCRBY', KEYS[i], 1) end
redis.call('INCRBY', spam and KEYS[1] or KEYS[2], 1)
return {1, nspam, nham}`;

const SCRIPT = 'mmBayesLearn';

export class SharedCounts {
  private store: StateStore;
  private prefix: string;
  /** Without Redis: the previous message's learning, which the next one waits for. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(store: StateStore, namespace: string) {
    this.store = store;
    this.prefix = `bayes:${namespace}:`;
    // Gateways sharing Redis rely on the script for the balance rule between them: never fall back silently.
    if (isSharedStore(store) && !store.script) throw new Error('the shared state store runs no scripts, so bayes cannot learn through it as one step');
  }

  /** Learns one message if the balance rule allows it, judged on the store's totals at that moment. */
  async learn(tokens: Iterable<string>, isSpam: boolean, rule: SharedBalance): Promise<LearnDecision> {
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

  private async learnByScript(script: NonNullable<StateStore['script']>, tokens: Iterable<string>, isSpam: boolean, rule: SharedBalance): Promise<LearnDecision> {
    const cls = isSpam ? 's' : 'h';
    const keys = [`${this.prefix}ns`, `${this.prefix}nh`];
    for (const t of tokens) keys.push(`${this.prefix}${cls}:${t}`);
    const args = [isSpam ? 1 : 0, rule.balance ? 1 : 0, rule.slack, rule.outside.nspam, rule.outside.nham];
    const [learned, nspam, nham] = await script(SCRIPT, LEARN_IF_BALANCED, keys, args) as [number, number, number];
    return { learned: learned === 1, nspam, nham };
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
