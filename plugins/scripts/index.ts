// Filter scripts: JavaScript that admins or filter authors write, run on every message in a sandbox.
//
// Each script gets a plain snapshot of the message in a sandbox process (pool.ts) and returns findings, header
// changes or an action. A script can never stop the gateway or another message: a runaway call is killed at its
// deadline, a crash or heap cap ends only its own process, and every failure is answered as `on_error` says.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { definePlugin, finalActionOutcome, outcome, PluginUnavailableError, type HookContext, type Issue, type Outcome } from '../../core/index.ts';
import { LOG_LIMITS, RESULT_LIMITS, type MessageSnapshot } from './api.ts';
import { configSchema, type ScriptsConfig } from './config.ts';
import { ScriptPool, type CallResult } from './pool.ts';
import { type ScriptLogs, type ScriptSource } from './protocol.ts';
import { checkResult, type CheckedAction } from './result.ts';
import { scriptSyntaxError } from './script-syntax.ts';
import { snapshotOf } from './snapshot.ts';

const MAX_SCRIPT_BYTES = 1024 * 1024;
/** Which action wins when scripts disagree: the one that keeps most, a refusal over a deferral over holding over dropping. */
const STRENGTH: Record<CheckedAction['type'], number> = { reject: 4, tempfail: 3, quarantine: 2, discard: 1 };

/** One script file's source; an unreadable or oversized file throws, naming the file. */
async function readScript(name: string, configDir: string): Promise<ScriptSource> {
  const file = path.resolve(configDir, name);
  let source: string;
  try { source = await readFile(file, 'utf8'); } catch (e) {
    throw new PluginUnavailableError(`cannot read filter script ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (Buffer.byteLength(source) > MAX_SCRIPT_BYTES) throw new Error(`filter script ${file} is larger than ${MAX_SCRIPT_BYTES} bytes`);
  return { name, source: source.replace(/^\uFEFF/, '') };
}

async function readScripts(cfg: ScriptsConfig, configDir: string): Promise<ScriptSource[]> {
  if (!cfg.scripts.length) throw new PluginUnavailableError('no scripts configured (scripts: [file.js, …])');
  return Promise.all(cfg.scripts.map((name) => readScript(name, configDir)));
}

/**
 * For `moat check-config`: each script the start would refuse, unreadable, too large or not JavaScript, all of them
 * at once (a missing file must not hide another's syntax error until the next run). Parsed and compiled as the
 * sandbox does (script-syntax.ts), never run (what it sets module.exports to is known only by running it).
 */
async function checkScripts(cfg: ScriptsConfig, configDir: string): Promise<Issue[]> {
  if (!cfg.scripts.length) return [{ path: 'scripts', message: 'no scripts configured (scripts: [file.js, …])' }];
  const read = await Promise.allSettled(cfg.scripts.map((name) => readScript(name, configDir)));
  const issues: Issue[] = [];
  read.forEach((r, i) => {
    // Named by its place in the list, so check-config can leave out a script whose entry the schema already refused.
    if (r.status === 'rejected') { issues.push({ path: `scripts[${i}]`, message: (r.reason as Error).message }); return; }
    const refused = scriptSyntaxError(r.value.source);
    if (refused) {
      const at = refused.at ? `:${refused.at}` : '';
      issues.push({ path: `scripts[${i}]`, message: `${path.resolve(configDir, r.value.name)}${at} is not valid JavaScript: ${refused.message}` });
    }
  });
  return issues;
}

interface Failure { script: string; failure: string; message: string }

/** Why the scripts cannot be shown every attachment of the message, if they cannot. */
function incompleteness(snapshot: MessageSnapshot): string | undefined {
  if (snapshot.structureIncomplete !== null) return snapshot.structureIncomplete;
  if (snapshot.attachmentsTruncated) return 'more attachments or file names than a script is shown';
  return undefined;
}

/**
 * on_incomplete before any script runs: the refusal or hold of a message whose attachments the scripts cannot all be
 * shown, as the rules plugin answers one whose MIME structure it could not check; undefined lets the scripts run.
 */
function refuseIncomplete(cfg: ScriptsConfig, snapshot: MessageSnapshot, ctx: HookContext): Outcome | undefined {
  const why = cfg.on_incomplete === 'run' ? undefined : incompleteness(snapshot);
  if (!why) return undefined;
  ctx.log.warn('filter scripts not run: the message could not be shown to them in full', { reason: why, action: cfg.on_incomplete });
  if (cfg.on_incomplete === 'quarantine') return finalActionOutcome(ctx, { kind: 'quarantine', text: `not shown to the filter scripts in full: ${why}` }, 'scripts');
  return outcome.reject(`Message refused: its MIME structure could not be checked in full (${why})`, { code: 554, enhanced: '5.7.1' });
}

/** A call's console lines in the gateway's log (the queue id comes with ctx.log), control characters made spaces. */
function logLines(ctx: HookContext, script: string, logs: ScriptLogs | undefined): void {
  if (!logs) return;
  for (const line of logs.lines) ctx.log.info('filter script log', { script, line: line.replace(/[\u0000-\u001f\u007f]+/g, ' ') });
  if (logs.dropped) ctx.log.info('filter script log cut', { script, dropped: logs.dropped, limit: `${LOG_LIMITS.lines} lines per message` });
}

async function filter(cfg: ScriptsConfig, pool: ScriptPool, scripts: ScriptSource[], ctx: HookContext): Promise<Outcome | void> {
  if (!ctx.message) return;
  const snapshot = await snapshotOf(ctx, cfg.max_text);
  const refused = refuseIncomplete(cfg, snapshot, ctx);
  if (refused) return refused;
  const input = JSON.stringify(snapshot);
  // All at once, each on a sandbox process of its own script: a message waits for its slowest script, not for their sum.
  const results: CallResult[] = await Promise.all(scripts.map((_, i) => pool.call(i, input)));
  const failures: Failure[] = [];
  let chosen: { action: CheckedAction; script: string } | undefined;
  results.forEach((r, i) => {
    const script = scripts[i].name;
    logLines(ctx, script, r.logs);
    if (!r.ok) { failures.push({ script, failure: r.failure, message: r.message }); return; }
    const checked = checkResult(r.output);
    if (!checked.ok) { failures.push({ script, failure: 'error', message: checked.error }); return; }
    const { findings, addHeaders, removeHeaders, action } = checked.result;
    for (const f of findings) ctx.addFinding(f.symbol, f.score, f.detail);
    for (const h of removeHeaders) ctx.removeHeader(h);
    for (const h of addHeaders) ctx.addHeader(h.name, h.value);
    if (action && (!chosen || STRENGTH[action.type] > STRENGTH[chosen.action.type])) chosen = { action, script };
  });

  for (const f of failures) {
    ctx.log.warn('filter script failed', { script: f.script, failure: f.failure, error: f.message, on_error: cfg.on_error });
    if (cfg.on_error === 'skip') ctx.addFinding('SCRIPT_FAILED', 0, `${f.script}: ${f.failure}: ${f.message}`.slice(0, RESULT_LIMITS.detail));
  }
  // A failed script could have refused the message; only a refusal by another script decides without it.
  if (failures.length && cfg.on_error === 'tempfail' && chosen?.action.type !== 'reject') {
    return outcome.tempfail('Message filter temporarily unavailable, try again later', { code: 451, enhanced: '4.3.0' });
  }
  if (!chosen) return;
  const { action, script } = chosen;
  ctx.log.info('filter script decided', { script, action: action.type, text: action.text });
  return finalActionOutcome(ctx, { kind: action.type, text: action.text, code: action.code, enhanced: action.enhanced }, script);
}

export default definePlugin({
  name: 'scripts',
  description: 'Runs filter scripts (JavaScript) on every message in sandboxed processes: findings, headers or an action',
  configSchema,
  symbols: {
    SCRIPT_FAILED: 'A script threw, timed out, crashed or returned a bad shape, and on_error is skip (score 0; the detail names the script)',
    'SCRIPT_*': 'What the scripts report; the prefix is added to every symbol a script returns',
  },
  check: (cfg: ScriptsConfig, at) => checkScripts(cfg, at.configDir),
  // A call may wait max_wait for a free sandbox process, then run for script_timeout.
  neededTimeout: (cfg: ScriptsConfig) => ({ ms: cfg.max_wait + cfg.script_timeout, why: 'max_wait + script_timeout' }),
  async create(cfg: ScriptsConfig, setup) {
    const scripts = await readScripts(cfg, setup.configDir);
    const pool = await ScriptPool.start({
      scripts, size: cfg.pool_size, timeoutMs: cfg.script_timeout, memoryMb: Math.floor(cfg.memory / (1024 * 1024)),
      maxWaitMs: cfg.max_wait, maxResultChars: RESULT_LIMITS.chars, log: setup.log,
    });
    setup.log.info('filter scripts loaded', { scripts: scripts.map((s) => s.name), pool_size: cfg.pool_size, sandbox_processes: scripts.length * cfg.pool_size });
    return {
      hooks: { data: (ctx) => filter(cfg, pool, scripts, ctx) },
      close: () => pool.close(),
    };
  },
});
