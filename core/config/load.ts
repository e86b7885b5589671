// Reads mailmoat.yaml, applies `--set key=value` overrides, validates, and reports every error with its key path.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { domainToUnicode } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { gatewaySchema, type GatewayConfig } from './gateway-schema.ts';
import { isIssueUnder, RECORD_KEY, validate, type Issue, type Schema } from './schema.ts';
import { validatePluginOptions } from '../plugin/loader.ts';

export class ConfigError extends Error {
  readonly code = 'GW_ERR_CONFIG_INVALID';
  readonly issues: Issue[];
  readonly file?: string;
  constructor(issues: Issue[], file?: string) {
    super(`${file ?? 'config'}: ${issues.length} error(s)\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
    this.file = file;
  }
}

export interface LoadedConfig {
  config: GatewayConfig;
  /** The file it came from (undefined for the embedded default). */
  file?: string;
  /** Directory relative paths are resolved against. */
  baseDir: string;
}

/** Where a config comes from: a file (or the usual search for one), `--set` overrides, or the embedded default alone. */
export interface ConfigSource {
  file?: string;
  overrides?: string[];
  projectDir?: string;
  /** The embedded default, without looking for a file: what a gateway started on it reloads. */
  embedded?: boolean;
}

/** Which file to read: the flag, then MAILMOAT_CONFIG, then ./mailmoat.yaml if present. */
export function resolveConfigPath(flag?: string): string | undefined {
  if (flag) return path.resolve(flag);
  if (process.env.MAILMOAT_CONFIG) return path.resolve(process.env.MAILMOAT_CONFIG);
  const def = path.resolve('mailmoat.yaml');
  return existsSync(def) ? def : undefined;
}

/** Parses a `--set` value: YAML scalars and flow collections (`[a, b]`, `{k: v}`), so types match the file. */
function parseSetValue(raw: string): unknown {
  try { return parseYaml(raw); } catch { return raw; }
}

/**
 * The keys a dotted `--set` path names. The name of a mapping of names (a route's domain: `routes.example.org.via`,
 * `routes..example.org`) holds dots itself: it runs to the end, or to a last segment that is an option of its value.
 */
function pathKeys(parts: string[]): string[] {
  const keys: string[] = [];
  let schema: Schema<unknown> | undefined = gatewaySchema;
  for (let i = 0; i < parts.length; i++) {
    const kids: Record<string, Schema<unknown>> | undefined = schema?.children?.();
    const entry = kids?.[RECORD_KEY];
    if (entry) {
      const last = parts.length - 1;
      const end = last > i && Object.hasOwn(entry.children?.() ?? {}, parts[last]) ? last : parts.length;
      return [...keys, parts.slice(i, end).join('.'), ...parts.slice(end)];
    }
    keys.push(parts[i]);
    schema = kids && Object.hasOwn(kids, parts[i]) ? kids[parts[i]] : /^\d+$/.test(parts[i]) ? kids?.['[]'] : undefined;
  }
  return keys;
}

/**
 * The dotted form of a `--set` key: a list index written as the errors write it (`plugins[0].score`, from
 * `moat check-config`) becomes a segment of its own (`plugins.0.score`). Only digits in brackets are an index: an
 * address literal in a route's domain (`[192.0.2.1]`) is left as it is.
 */
function dottedKey(key: string): string {
  return key.replace(/\[(\d+)\]/g, '.$1');
}

/**
 * Applies `a.b.c=value` to a plain object; numeric segments index lists, dotted (`plugins.0.timeout=5s`) or in
 * brackets as the errors name them (`plugins[0].timeout=5s`).
 */
export function applyOverride(target: Record<string, unknown>, assignment: string): Issue | undefined {
  const eq = assignment.indexOf('=');
  if (eq <= 0) return { path: assignment, message: 'expected KEY=VALUE for --set' };
  const key = assignment.slice(0, eq).trim();
  const dotted = dottedKey(key);
  const keys = pathKeys(dotted.split('.'));
  // A place is named in the form the key was given in: `plugins[5]` for a key written with brackets.
  const named = (n: number) => {
    const at = keys.slice(0, n).join('.');
    return dotted === key ? at : at.replace(/\.(\d+)(?=\.|$)/g, '[$1]');
  };
  // A path through an object's prototype would change every object of the process, not a config key.
  const bad = keys.find((k) => k === '' || k === '__proto__' || k === 'constructor' || k === 'prototype');
  if (bad !== undefined) return { path: assignment.slice(0, eq), message: `is not a config key path (segment ${JSON.stringify(bad)})` };
  const value = parseSetValue(assignment.slice(eq + 1));
  let node: Record<string, unknown> = target;
  // An index past a list's end would leave holes, entries that are nothing at all (`plugins.5` of two plugins).
  const pastEnd = (i: number): Issue | undefined => {
    const length = (node as unknown as unknown[]).length;
    return Array.isArray(node) && Number(keys[i]) > length
      ? { path: named(i + 1), message: `is past the end of the list, which has ${length} entr${length === 1 ? 'y' : 'ies'}: index ${length} adds one` }
      : undefined;
  };
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i];
    const past = pastEnd(i);
    if (past) return past;
    if (typeof node[k] !== 'object' || node[k] === null) node[k] = /^\d+$/.test(keys[i + 1]) ? [] : {};
    node = node[k] as Record<string, unknown>;
  }
  const past = pastEnd(keys.length - 1);
  if (past) return past;
  node[keys[keys.length - 1]] = value;
  return undefined;
}

/**
 * `url` with its userinfo as a URL parser writes it: a blank, a quote or a bracket in a password percent-encoded
 * (`redis://:Secret 99@host` becomes `redis://:Secret%2099@host`), which the Redis client decodes back. A raw blank
 * then never travels further (a log line, the client's error messages), where it could end the masking of a password
 * that a reader takes for the end of the URL. Anything that is not such a URL is left as it is for its check to refuse.
 */
export function withEncodedUserinfo(url: string): string {
  let u: URL;
  try { u = new URL(url); } catch { return url; }
  if (!u.username && !u.password) return url;
  const start = url.indexOf('//') + 2;
  const pathAt = url.slice(start).search(/[/?#]/);
  const authorityEnd = pathAt < 0 ? url.length : start + pathAt;
  const at = url.lastIndexOf('@', authorityEnd - 1);
  if (start < 2 || at < start) return url;
  return `${url.slice(0, start)}${u.username}${u.password ? `:${u.password}` : ''}${url.slice(at)}`;
}

/** The config as far as it validates, and every issue: what validateConfig throws, for callers that add their own. */
async function validateRaw(raw: unknown, projectDir?: string): Promise<{ value: GatewayConfig; issues: Issue[] }> {
  const { value, issues } = validate(gatewaySchema, raw ?? {});
  // Plugin options are checked along with the rest (every error at once): those of each entry whose plugin can be
  // found, whatever the other entries' errors and its own core keys' (a bad timeout must not hide a bad option
  // until the next run).
  if (Array.isArray(value.plugins) && !issues.some((i) => i.path === 'plugins')) {
    const unfindable = (index: number) => issues.some((i) => i.path === `plugins[${index}]` || isIssueUnder(i, `plugins[${index}].name`) || isIssueUnder(i, `plugins[${index}].module`));
    issues.push(...await validatePluginOptions(value.plugins, projectDir, unfindable));
  }
  // smtp-server hands every address over with its domain in Unicode (xn-- labels decoded): a local domain written in
  // its xn-- form matched no recipient, and all of its mail was refused as relaying.
  if (Array.isArray(value.domains) && !issues.some((i) => i.path.startsWith('domains'))) value.domains = value.domains.map((d) => domainToUnicode(d));
  const redis = value.state?.redis;
  if (typeof redis?.url === 'string' && !issues.some((i) => isIssueUnder(i, 'state.redis.url'))) redis.url = withEncodedUserinfo(redis.url);
  return { value, issues };
}

/** Validates a raw config object (already parsed from YAML) including each plugin's own options. */
export async function validateConfig(raw: unknown, file?: string, projectDir?: string): Promise<GatewayConfig> {
  const { value, issues } = await validateRaw(raw, projectDir);
  if (issues.length) throw new ConfigError(issues, file);
  return value;
}

/** Why a config file with nothing in it (empty, only comments, `~`, `{}`) is refused rather than run as the default. */
const NO_SETTINGS = 'holds no settings (empty, only comments, or null): a file cut short or emptied by mistake is refused, not run on '
  + 'the defaults without its domains, plugins, smarthost and TLS. To run on the embedded default, start with no config file: '
  + 'no --config, no $MAILMOAT_CONFIG, no mailmoat.yaml in the current directory';

/** What readConfig found: the config (absent when the file could not be read or parsed; partial when there are issues). */
export interface ConfigReading {
  config?: GatewayConfig;
  file?: string;
  baseDir: string;
  issues: Issue[];
}

/**
 * Reads and validates the config without throwing, with its paths resolved as far as they are valid: `moat
 * check-config` adds the checks of what a start would refuse (files it names) to every schema error, not after them.
 */
export async function readConfig(opts: ConfigSource = {}): Promise<ConfigReading> {
  const file = opts.embedded ? undefined : resolveConfigPath(opts.file);
  const baseDir = file ? path.dirname(file) : process.cwd();
  const fail = (message: string): ConfigReading => ({ file, baseDir, issues: [{ path: '', message }] });
  let raw: Record<string, unknown> = {};
  const issues: Issue[] = [];
  if (file) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (e) { return fail(`cannot read the file: ${(e as Error).message}`); }
    // Only the first line of the parser's message, which names the line and column: the rest quotes the file, and
    // the quoted line may hold a password (it reaches check-config, the log and `moat reload`'s output).
    let parsed: unknown;
    try { parsed = parseYaml(text); } catch (e) { return fail(`is not valid YAML: ${(e as Error).message.split('\n')[0].replace(/:$/, '')}`); }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) return fail('expected a mapping at the top of the file');
    raw = (parsed ?? {}) as Record<string, unknown>;
    // A file cut short by a write or emptied in an editor was taken as the defaults: a reload dropped the
    // domains, plugins, smarthost and TLS, and the gateway refused all of its own mail as relaying. The rest is still
    // read, so that `moat reload` finds the gateway (data_dir) and every other problem is listed at once.
    if (Object.keys(raw).length === 0) issues.push({ path: '', message: NO_SETTINGS });
  }
  // The embedded default accepts mail for localhost (README); a reload of it must keep doing so.
  if (!file) raw.domains = ['localhost'];
  const overrideIssues: Issue[] = [];
  for (const o of opts.overrides ?? []) { const i = applyOverride(raw, o); if (i) overrideIssues.push(i); }
  if (overrideIssues.length) return { file, baseDir, issues: [...issues, ...overrideIssues] };
  // A plugin's own module, like data_dir, is relative to the config file: checked here and loaded at start alike.
  if (Array.isArray(raw.plugins)) {
    for (const entry of raw.plugins as Array<Record<string, unknown> | null>) {
      if (entry && typeof entry.module === 'string' && entry.module) entry.module = path.resolve(baseDir, entry.module);
    }
  }
  const { value: config, issues: found } = await validateRaw(raw, opts.projectDir);
  const relative = (p: unknown) => (typeof p === 'string' && p ? path.resolve(baseDir, p) : p) as string;
  config.data_dir = relative(config.data_dir);
  // Like data_dir, relative to the config file: the gateway and `moat user` may run from different directories.
  if (config.auth) config.auth.users_file = relative(config.auth.users_file);
  if (config.server?.tls) {
    config.server.tls.cert = relative(config.server.tls.cert);
    config.server.tls.key = relative(config.server.tls.key);
  }
  return { config, file, baseDir, issues: [...issues, ...found] };
}

/** Loads and validates the config; throws ConfigError with every problem. */
export async function loadConfig(opts: ConfigSource = {}): Promise<LoadedConfig> {
  const { config, file, baseDir, issues } = await readConfig(opts);
  if (issues.length || !config) throw new ConfigError(issues, file);
  return { config, file, baseDir };
}
