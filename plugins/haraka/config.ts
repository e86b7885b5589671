// Options of the haraka plugin (one entry per Haraka folder), with their defaults.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { s, type Infer, type Issue } from '../../core/index.ts';
import { folderProblem, ignoresBadPlugins, listNames } from './folder-check.ts';
import { pluginName, searchPaths } from './loader.ts';
import { unparsableConfigFiles, unparsableMessage } from './config-files.ts';
import { compileWithoutRunning } from './plugin-code.ts';
import { LEVELS } from './log.ts';

const options = s.object({
  dir: s.string({ minLength: 1 })
    .describe('The Haraka folder, as for `haraka -c`: config/plugins, config/<name>.*, plugins/, node_modules/ (relative to the config file)'),
  dns_servers: s.array(s.string()).default([])
    .describe('Send the DNS queries of Haraka plugins (which build their own resolvers) to these `ip:port` servers; process-wide; empty leaves the system resolver'),
  // A level Haraka does not know fell back to WARN without a word, so `VERBOSE` hid the plugin's info lines.
  log_level: s.checked(s.string(), (v, p, is) => {
    if (!(String(v).toUpperCase().replace(/^LOG/, '') in LEVELS)) is.push({ path: p, message: `is not a Haraka log level (one of ${Object.keys(LEVELS).join(', ')})` });
  }).optionalValue()
    .describe('Haraka log level (DATA … EMERG) for the plugins\' log calls; unset reads log.ini [main] level, else WARN'),
  scores: s.record(s.number()).default({})
    .describe('Score per finding symbol (HARAKA_<PLUGIN>_FAIL, HARAKA_<PLUGIN>_ERROR, HARAKA_KARMA); unlisted symbols score 0'),
  karma_factor: s.number().default(-0.5)
    .describe('HARAKA_KARMA scores karma\'s score times this; karma counts good behaviour as positive, so the factor is negative'),
  // karma's score has its own factor (and its own symbol, HARAKA_KARMA): two ways to score it would add it twice.
  score_factors: s.checked(s.record(s.number()), (v, p, is) => {
    if (Object.hasOwn(v, 'karma')) is.push({ path: `${p}.karma`, message: 'karma\'s score is scored by karma_factor' });
  }).default({})
    .describe('Per Haraka plugin whose results hold a numeric `score` (rspamd, spamassassin): HARAKA_<PLUGIN>_SCORE scores that score times this factor; plugins not named here add no such finding'),
});

/**
 * A folder the start would refuse is refused with the rest of the config. Only an absolute `dir` can be checked here:
 * a relative one is taken from the config file's folder, which the schema is not told (checkOptions and the start are).
 */
function checkFolder(cfg: Infer<typeof options>, at: string, issues: Issue[]): void {
  if (!path.isAbsolute(cfg.dir)) return;
  const problem = folderProblem(cfg.dir);
  if (problem) issues.push({ path: `${at}.dir`, message: problem });
}

export const configSchema = s.checked(options, checkFolder);

/**
 * The folder check for `moat check-config` (a plugin definition's `check`), which knows the config file's folder and
 * so also judges a relative `dir`, as the start will resolve it. It finds what the start would refuse, in the start's
 * words, without running plugin code: config files that do not parse, and (unless smtp.ini skips bad plugins) a name
 * in config/plugins that no search path holds or whose code does not compile.
 */
export function checkOptions(cfg: Infer<typeof options>, setup: { configDir: string }): Issue[] {
  const dir = path.resolve(setup.configDir, cfg.dir);
  const problem = folderProblem(dir);
  if (problem) return [{ path: 'dir', message: problem }];
  const issues: Issue[] = [];
  const broken = unparsableConfigFiles(dir);
  if (broken.length) issues.push({ path: 'dir', message: unparsableMessage(broken) });
  if (ignoresBadPlugins(dir)) return issues;
  const list = path.join(dir, 'config', 'plugins');
  for (const name of listNames(readFileSync(list, 'utf8')).map(pluginName)) {
    const found = searchPaths(dir, name).find((p) => existsSync(p));
    if (!found) {
      issues.push({ path: 'dir', message: `${list} names the plugin ${name}, which is neither in ${path.join(dir, 'plugins')}, nor installed as haraka-plugin-${name}, nor one of Haraka's own` });
      continue;
    }
    try { compileWithoutRunning(name, found); } catch (err) { issues.push({ path: 'dir', message: (err as Error).message }); }
  }
  return issues;
}

export type HarakaConfig = Infer<typeof configSchema>;
