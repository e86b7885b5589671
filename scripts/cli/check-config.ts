// `moat check-config`: validates the config file, every plugin's options, and what a start would refuse beyond them (the
// TLS files, what a plugin's own check finds); exit 0, or 1 listing every error.
import { readFileSync } from 'node:fs';
import { readConfig, ConfigError, type LoadedConfig } from '../../core/config/load.ts';
import type { GatewayConfig } from '../../core/config/gateway-schema.ts';
import { isIssueUnder, type Issue } from '../../core/config/schema.ts';
import type { ChainView, PluginDefinition } from '../../core/plugin/define.ts';
import { chainSymbols, importPlugin, nameMismatch, pluginOptions, PROJECT_DIR, type EntryLike } from '../../core/plugin/loader.ts';
import { entryNames, sharedNameWarnings } from '../../core/plugin/entry-names.ts';
import { loadTls } from '../../core/smtp/tls.ts';
import { validityWarnings } from '../../core/smtp/tls-certificate-checks.ts';
import { CONFIG_OPTIONS, readCommand } from './args.ts';
import { oversizeWarning } from '../../plugins/clamav/config.ts';
import { ownNextHops } from '../../core/relay/own-listeners.ts';
import { domainWarnings } from '../../core/config/domain-warnings.ts';
import { arcWarnings } from '../../core/dkim/arc-warnings.ts';

const USAGE = 'usage: moat check-config [--config FILE] [--set KEY=VALUE]…';

/** What a start makes of the configured certificate and key: each file that cannot be read, or a pair that cannot serve. */
function tlsIssues(cert: string | undefined, key: string | undefined, warnings: string[]): Issue[] {
  if (!cert && !key) return [];
  if (!cert || !key) return [{ path: 'server.tls', message: `cert and key must be set together (only ${cert ? 'cert' : 'key'} is set)` }];
  const unreadable: Issue[] = [];
  for (const [name, file] of [['cert', cert], ['key', key]] as const) {
    try { readFileSync(file); } catch (e) {
      unreadable.push({ path: `server.tls.${name}`, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    }
  }
  if (unreadable.length) return unreadable;
  try {
    // Given files, loadTls neither writes nor generates anything: it proves the pair as the start does. The cipher list
    // is the schema's to judge, once.
    const tls = loadTls({ cert, key, dataDir: '', hostname: 'localhost' });
    warnings.push(...validityWarnings(tls.cert, cert));
    return [];
  } catch (e) {
    // loadTls starts its message with the key it is about: "server.tls (cert …, key …): …".
    const text = (e as Error).message;
    const at = text.indexOf(': ');
    return [at > 0 ? { path: text.slice(0, at), message: text.slice(at + 2) } : { path: 'server.tls', message: text }];
  }
}

/**
 * The options as the schema read them, less the keys it left without a value (those in error among them): a list
 * file named by an empty string is then not there for the check to trip on while it reads the other list files.
 * List items stay, so that a finding's index still names the item in the file.
 */
function withoutUnset(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUnset);
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutUnset(v);
  return out;
}

/** Thrown when a check reads `dataDir` while `data_dir` itself is in error: that error is listed already. */
class DataDirInError extends Error {}

/**
 * What plugins say their `create` would refuse, through the optional `check` of a plugin definition. Creating the
 * chain here instead seeded the Bayes dictionary into data_dir as the user running check-config, and cost 0.6 s and
 * 50 MB for the shipped dictionary alone.
 *
 * Each entry is judged on its own, and checked even when some of its options are in error (the schema's issues,
 * `known`, name them), so one run lists what a second run would find: the check is given the options as the schema
 * read them, where a value in error is left out, and what it says about a key in error is dropped, since that key is
 * listed already and the check saw not the admin's value but none.
 */
async function pluginIssues(config: GatewayConfig, baseDir: string, known: Issue[], warnings: string[]): Promise<Issue[]> {
  const issues: Issue[] = [];
  if (!Array.isArray(config.plugins) || known.some((x) => x.path === 'plugins')) return issues;
  const dataDirValid = typeof config.data_dir === 'string' && !known.some((x) => isIssueUnder(x, 'data_dir'));
  // As the start gives it: what every entry can record, for a check that reads the findings of others (rules).
  const names = entryNames(config.plugins);
  // As the start warns: a later entry of a name goes by it with #2, #3….
  warnings.push(...sharedNameWarnings(config.plugins));
  const symbols = await chainSymbols(config.plugins as EntryLike[]);
  const setup = {
    projectDir: PROJECT_DIR,
    configDir: baseDir,
    chain: undefined as ChainView | undefined,
    warn: (message: string) => { warnings.push(message); },
    // A check that needs data_dir (the Bayes dictionary's default place) has nothing sound to look at without it.
    get dataDir(): string { if (!dataDirValid) throw new DataDirInError(); return config.data_dir; },
  };
  for (const [i, entry] of config.plugins.entries()) {
    const at = `plugins[${i}]`;
    const inError = known.filter((x) => isIssueUnder(x, at));
    // An entry that is no mapping, or names no plugin that loads, has no check to run (its error is listed).
    if (inError.some((x) => x.path === at || x.path === `${at}.name` || x.path === `${at}.module`)) continue;
    let def: PluginDefinition<unknown>;
    try { def = await importPlugin(entry as EntryLike); } catch { continue; }
    // As the start warns: the module's own name tags the findings that rules and scripts look for.
    if (entry.module && entry.name !== def.name) warnings.push(nameMismatch(i, entry.name, def.name));
    // Read here, not taken from `known`: the loader reads no options of an entry whose timeout is in error.
    const optionIssues: Issue[] = [];
    const options = def.configSchema.parse(pluginOptions(entry as EntryLike), at, optionIssues);
    // The gateway takes a message by its own size limit before the virus scanner sees it: one the scanner's limit
    // then refuses has cost the sender the whole transfer, and a 552 the SIZE it was offered gave no hint of.
    const maxMessageSize = config.limits?.max_message_size;
    if (def.name === 'clamav' && !optionIssues.length && typeof maxMessageSize === 'number' && !known.some((x) => isIssueUnder(x, 'limits.max_message_size'))) {
      const oversize = oversizeWarning(options as Parameters<typeof oversizeWarning>[0], maxMessageSize);
      if (oversize) warnings.push(`${at}: ${oversize}`);
    }
    if (!def.check) continue;
    const keysInError = [...new Set(optionIssues.map((x) => x.path))];
    setup.chain = { names, index: i, symbols };
    try {
      const found = await def.check(withoutUnset(options), setup);
      for (const x of found) {
        const finding = { path: x.path ? `${at}.${x.path}` : at, message: x.message };
        if (!keysInError.some((k) => k !== at && isIssueUnder(finding, k))) issues.push(finding);
      }
    } catch (e) {
      if (e instanceof DataDirInError) continue;
      const why = (e as Error)?.message ?? String(e);
      issues.push({
        path: at,
        message: keysInError.length
          ? `the ${entry.name} plugin's check could not run on these options while ${keysInError.join(', ')} ${keysInError.length > 1 ? 'are' : 'is'} in error (${why}); mend ${keysInError.length > 1 ? 'them' : 'it'} and run check-config again`
          : `the ${entry.name} plugin's check failed: ${why}`,
      });
    }
  }
  return issues;
}

export interface ConfigCheck {
  file?: string;
  /** Every error: the schema's, then what a start would refuse beyond it. */
  issues: Issue[];
  /**
   * Not errors, but worth a line: an expired or not yet valid certificate is still served; a plugin entry named otherwise
   * than its module; a domain named in one place and missing from another (core/config/domain-warnings.ts).
   */
  warnings: string[];
  /** The config, once the schema found nothing in it (what the start would refuse may still be in `issues`). */
  loaded?: LoadedConfig;
}

/**
 * Reads the config as a start would and adds what the start would refuse beyond the schema, all at once: `moat
 * check-config` and `moat doctor` both say OK only for a config the gateway starts with.
 */
export async function checkConfig(opts: { file?: string; overrides?: string[] }): Promise<ConfigCheck> {
  const { config, file, baseDir, issues: schemaIssues } = await readConfig(opts);
  const warnings: string[] = [];
  if (!config) return { file, issues: schemaIssues, warnings };
  const issues = [...schemaIssues];
  const tls = config.server?.tls;
  if (tls) issues.push(...tlsIssues(tls.cert, tls.key, warnings));
  issues.push(...await pluginIssues(config, baseDir, schemaIssues, warnings));
  // A warning, not an error: the gateway starts, and each message sent there bounces as a loop (5.4.6).
  if (!schemaIssues.length) {
    for (const h of ownNextHops(config)) warnings.push(`${h.where}: ${h.url} is this gateway's own listener (${h.listener.key} ${h.listener.address}): mail sent there would loop back, and bounces with 5.4.6`);
  }
  // Judged on a config the schema took whole: a key in error is listed already, and its value is not there to compare.
  if (!schemaIssues.length) warnings.push(...domainWarnings(config), ...arcWarnings(config));
  return { file, issues, warnings, loaded: schemaIssues.length ? undefined : { config, file, baseDir } };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const { file, issues, warnings } = await checkConfig({ file: parsed.values.config, overrides: parsed.values.set ?? [] });
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (issues.length) { process.stderr.write(`${new ConfigError(issues, file).message}\n`); return 1; }
  process.stdout.write(`${file ?? 'embedded default config'}: OK\n`);
  return 0;
}
