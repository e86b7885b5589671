// How a plugin is declared: a name, a config schema with defaults, and a factory that returns its hook handlers.
import type { Issue, Schema } from '../config/schema.ts';
import type { HookName } from '../hooks/hook-names.ts';
import type { HookContext, Services } from '../hooks/context.ts';
import type { Outcome } from '../hooks/outcome.ts';
import type { Logger } from '../log/types.ts';
import { counterPrefix } from './entry-names.ts';

export type HookHandler = (ctx: HookContext) => Promise<Outcome | void> | Outcome | void;
export type HookHandlers = Partial<Record<HookName, HookHandler>>;

/**
 * A recipient's judgement of one of their quarantined messages, made on the quarantine pages: releasing it (from the
 * digest's link or their page) or Always allow says it was not spam for them, Always block that it was. Deleting is
 * no judgement, and an administrator's action is none of the recipient's.
 */
export interface RecipientFeedback {
  kind: 'ham' | 'spam';
  /** The recipient who acted, as their ticket names them. */
  recipient: string;
  queueId: string;
  /** The message as it was quarantined (without the headers the gateway adds on the way out), its first 2 MB, read before the action. */
  raw: Buffer;
  how: 'release' | 'always-allow' | 'always-block';
}

/** A dependency of a plugin that does not answer now, and what that makes of mail meanwhile. */
export interface HealthProblem {
  /** What fails and what mail gets meanwhile, for GET /health/ready and the log (never a secret). */
  problem: string;
  /**
   * `tempfail`: the plugin defers every message until it answers, so the gateway leaves a load balancer's pool;
   * `degraded`: mail goes on, filtered less (a check set to fail open).
   */
  effect: 'tempfail' | 'degraded';
}

export interface PluginInstance {
  hooks: HookHandlers;
  /** Releases sockets, timers and files; called on shutdown and when a reload replaces the instance. */
  close?(): Promise<void> | void;
  /**
   * Told of a recipient's judgement after the action succeeded. An error is logged and passed over; the page waits
   * for it a short while only, so work that may take longer (a store away) should be tracked for `close`.
   */
  feedback?(event: RecipientFeedback): Promise<void> | void;
  /**
   * Whether what the plugin depends on (a daemon, a server) answers now, for GET /health/ready: undefined when it
   * does. It must settle within `timeoutMs`, a dependency that has not answered by then being a problem like any
   * other. The gateway calls it at most once per readiness period however often a balancer probes, so one cheap
   * request (a PING) is the right size.
   */
  health?(timeoutMs: number): Promise<HealthProblem | undefined>;
  /**
   * Milliseconds a call of `hook` needs when that is more than the entry's `timeout` (a plugin that runs plugins of
   * its own, each with its own limit and answer: the Haraka shim); the core then waits this long instead.
   */
  hookTimeout?(hook: HookName): number | undefined;
}

/**
 * Counters a plugin keeps of its own, shown by `moat metrics` (under `plugins`) and `/metrics` beside the gateway's:
 * `inc('viruses')` from the clamav plugin counts `clamav_viruses` (`mailmoat_clamav_viruses_total`). A name is of
 * a-z, 0-9 and `_`; a counter only grows, so `by` is a finite number of 0 or more. Anything else throws.
 */
export interface PluginMetrics {
  inc(name: string, by?: number): void;
}

export interface PluginSetup {
  log: Logger;
  services: Services;
  /** This plugin's own counters, kept over reloads (absent where no gateway runs, as in `moat check-config`). */
  metrics?: PluginMetrics;
  /** Folder of the project (for plugins that ship data, such as default dictionaries). */
  projectDir: string;
  /** Directory of the config file, to resolve relative paths in plugin options. */
  configDir: string;
  /**
   * The names of the chain's entries in order, and this plugin's place among them: a plugin that reads another's
   * findings can say at start that it is missing, or after it in a hook where its findings come too late.
   */
  chain?: ChainView;
  /** The entry's `timeout`: milliseconds each hook call may take, unless the instance's `hookTimeout` asks for more. */
  entryTimeout?: number;
  /** The gateway's own message size limit (limits.max_message_size), for a plugin whose limits must not fall short of it. */
  maxMessageSize?: number;
}

/** What a plugin's `check` may read: where its relative paths start, and the gateway's data folder. */
export interface PluginCheckSetup {
  projectDir: string;
  configDir: string;
  dataDir: string;
  /** The chain as the start would make it (absent where no whole config is checked). */
  chain?: ChainView;
  /** Says what is not an error but worth a line (check-config prints it to stderr and still says OK). */
  warn?(message: string): void;
}

/**
 * The symbols a plugin's findings can carry under one config: what a plugin that reads others' findings (the rules'
 * `symbol` criterion) checks its names against, so that a name nothing in the chain records is said at start.
 */
export interface SymbolListing {
  /** Symbols recorded in the data hook: a data hook of a plugin listed before this one does not see them yet. */
  symbols: readonly string[];
  /** Symbols recorded before DATA (connect, HELO, MAIL FROM, RCPT TO): there for every data hook, whatever the order. */
  early?: readonly string[];
  /** Starts of names the config cannot list (`SCRIPT_`: a script names its own findings), recorded at data. */
  prefixes?: readonly string[];
  /** Any name at all may come (a plugin that declares no symbols): none can be called unknown. */
  any?: boolean;
}

/** The chain's entries in order, this plugin's place, and what each entry can record (`symbolListing`). */
export interface ChainView {
  names: readonly string[];
  index: number;
  symbols?: readonly SymbolListing[];
}

/** Where a declared symbol stops being a name and becomes a placeholder: `RBL_<ZONE>`, `SCRIPT_*`. */
const PLACEHOLDER = /[<*]/;

/**
 * What `def` can record with `config`: its own `emits` when it has one, else read from `symbols` (each key a symbol
 * recorded at data, a key with `<…>` or `*` a prefix up to there); a plugin that declares neither may record anything.
 */
export function symbolListing<C>(def: PluginDefinition<C>, config: C): SymbolListing {
  if (def.emits) return def.emits(config);
  if (!def.symbols) return { symbols: [], any: true };
  const keys = Object.keys(def.symbols);
  const prefixes = keys.filter((k) => PLACEHOLDER.test(k)).map((k) => k.slice(0, k.search(PLACEHOLDER)));
  return { symbols: keys.filter((k) => !PLACEHOLDER.test(k)), ...(prefixes.length ? { prefixes } : {}) };
}

export interface PluginDefinition<C> {
  /**
   * The plugin id: its folder under plugins/, and the `name` of an entry that loads it from there. What the plugin
   * records, logs, keeps and counts goes by its entry's name, which differs only for an entry loading it by `module:`.
   */
  name: string;
  description: string;
  /** Schema of the plugin's options (the keys of its `plugins` entry other than `name`). */
  configSchema: Schema<C>;
  /** Symbols this plugin may emit, with a one-line description each. */
  symbols?: Record<string, string>;
  /**
   * The symbols it can record with these options, when `symbols` cannot say it: names made from the config (a
   * blocklist's zones, Bayes bands), or findings recorded before DATA. See `symbolListing` for what is read without it.
   */
  emits?(config: C): SymbolListing;
  create(config: C, setup: PluginSetup): Promise<PluginInstance> | PluginInstance;
  /**
   * What `create` would refuse with these options beyond their schema (a file they name that cannot be read), so that
   * `moat check-config` and `moat doctor` say OK only for a config the gateway starts with. Issue paths are relative to
   * the plugin's entry (`seed`). It must not write, connect or start threads: it runs as whoever runs check-config.
   */
  check?(config: C, setup: PluginCheckSetup): Promise<Issue[]> | Issue[];
  /**
   * The time a hook call needs with these options, and what it is made of (`max_wait + script_timeout`): an entry
   * whose `timeout` is not above it is refused, since the core would cut the call off before the plugin's own limit.
   */
  neededTimeout?(config: C): { ms: number; why: string } | undefined;
  /**
   * Milliseconds `create` may take with these options, for a plugin whose start legitimately takes longer than the
   * core's 30 s (a very large dictionary to read). Past it the start fails, or the reload is refused, naming the plugin.
   */
  createTimeout?(config: C): number;
  /**
   * What these options make of mail while the gateway's DNS resolver (`services.dns`) gets no answers: `tempfail` when
   * the plugin then defers every message (a blocklist with `on_error: tempfail`), `degraded` when mail goes on checked
   * less; undefined, or no `dnsOutage` at all, for a plugin that never asks it. `moat doctor` checks the resolver, and
   * GET /health/ready watches it, only for a config with a plugin (or a route via mx) that does (core/plugin/dns-users.ts).
   */
  dnsOutage?(config: C): HealthProblem['effect'] | undefined;
}

/**
 * Declares a plugin.
 * @example
 *   export default definePlugin({
 *     name: 'subject-check', description: 'Scores shouting subjects',
 *     configSchema: s.object({ score: s.number().default(2) }),
 *     create: (cfg) => ({ hooks: { data: (ctx) => { ... } } }),
 *   });
 */
export function definePlugin<C>(def: PluginDefinition<C>): PluginDefinition<C> {
  const create = def.create;
  // Here rather than in the loader, so that every way a plugin is created names its counters after its entry (entry
  // names are unique), and no plugin can count under another's name.
  return {
    ...def,
    // Unit tests create a plugin with its config alone: no setup, no counters.
    create: (config, setup) => create.call(def, config, setup?.metrics ? { ...setup, metrics: scopedMetrics(setup.metrics, entryName(setup, def.name)) } : setup),
  };
}

/** The name of the entry being created: the chain's, or the definition's where no chain is given (a test's create). */
function entryName(setup: PluginSetup, defined: string): string {
  return setup.chain?.names[setup.chain.index] ?? defined;
}

/** A counter name part must be of these, so that it is a valid Prometheus name part as it stands. */
export const COUNTER_NAME = /^[a-z0-9_]+$/;

/** The gateway's plugin counters as one plugin sees them: each name under `<plugin>_`. */
function scopedMetrics(all: PluginMetrics, plugin: string): PluginMetrics {
  // `user-lists` counts as `user_lists_…`.
  const prefix = counterPrefix(plugin);
  return {
    inc(name: string, by?: number): void {
      if (typeof name !== 'string' || !COUNTER_NAME.test(name)) throw new Error(`plugin ${plugin}: counter name ${JSON.stringify(name)} must be of a-z, 0-9 and _`);
      all.inc(`${prefix}_${name}`, by);
    },
  };
}

/**
 * Thrown by a plugin's `create` when a resource it needs is missing (a socket, a file).
 * The core disables the plugin with the reason logged, or stops the start when the entry says `required: true`.
 */
export class PluginUnavailableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'PluginUnavailableError';
  }
}
