// The sandbox child: compiles the filter scripts in vm2 and runs one call at a time for the gateway over its pipe (child-channel.ts).
//
// It runs under Node's permission model (no file writes, reads of its own code and vm2 only, no child processes,
// workers or addons) with a heap cap, started by pool.ts. vm2 keeps the script from the child's own objects; the
// permission flags and the network and signal locks below are the second wall should a script ever get past vm2. Runaway and
// hostile scripts are not handled here: the gateway kills this process at the call's deadline.
import { createRequire } from 'node:module';
import type { VM as VmType } from 'vm2';
import { openChannel } from './child-channel.ts';
import { lockNetwork } from './network-lock.ts';
import { lockSignals } from './signal-lock.ts';
import { LOG_LIMITS } from './api.ts';
import { moduleOpening, moduleSource, SCRIPT_FILE, SCRIPT_HEAD, type ScriptLogs, type ScriptSource, type ToChild } from './protocol.ts';
import { syntaxErrorAt } from './script-position.ts';
import { cutDocumentedFields, largestField } from './result-cuts.ts';

lockNetwork();
lockSignals();

const vm2Path = process.argv[2];
const { VM } = createRequire(import.meta.url)(vm2Path) as typeof import('vm2');

/** Frames of the script's own file named in an error's description (the log and SCRIPT_FAILED's detail). */
const DESCRIBED_FRAMES = 4;

/**
 * Runs first in every script's context, before the script: takes away what could allocate memory outside the heap
 * cap (typed arrays, wasm memories), and defines the loader and the call entry with the intrinsics captured now, so a
 * script that replaces JSON or Promise methods changes only its own results, never how they are read. `name` is the
 * script's name as the config gives it, for the positions in its errors.
 */
function prelude(name: string): string {
  return `(function () {
  'use strict';
  const parse = JSON.parse, stringify = JSON.stringify, define = Object.defineProperty, freeze = Object.freeze;
  const lower = String.prototype.toLowerCase, slice = String.prototype.slice, replace = String.prototype.replace;
  const call = Function.prototype.call, framesOf = new WeakMap(), getFrames = WeakMap.prototype.get, setFrames = WeakMap.prototype.set;
  const NAME = ${JSON.stringify(name)}, FILE = ${JSON.stringify(SCRIPT_FILE)}, OPENING = ${moduleOpening(SCRIPT_HEAD).length};
  const MAX_LINES = ${LOG_LIMITS.lines}, MAX_CHARS = ${LOG_LIMITS.chars}, MAX_FRAMES = ${DESCRIBED_FRAMES};
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray',
    'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array',
    'BigInt64Array', 'BigUint64Array', 'WebAssembly', 'Atomics', 'Buffer']) delete globalThis[name];
  let filter;
  // vm2 shows the sandbox its own frames only (a host's come without a file). Of those, the script's are picked by the
  // file name it was compiled under and shown under the config's name for it; the prelude's and the call's are left out.
  Error.prepareStackTrace = function (error, sites) {
    let stack = '', own = '', count = 0;
    for (let i = 0; i < sites.length; i++) {
      const site = sites[i];
      if (site.getFileName() !== FILE) continue;
      const line = site.getLineNumber(), column = site.getColumnNumber() - (line === 1 ? OPENING : 0), fn = site.getFunctionName();
      // The module wrapper's own call of the script's top-level code is no place in the file.
      if (column < 1) continue;
      const at = NAME + ':' + line + ':' + column;
      stack += '\\n    at ' + (fn ? fn + ' (' + at + ')' : at);
      if (count++ < MAX_FRAMES) own += (own ? ', ' : '') + (fn ? at + ' (' + fn + ')' : at);
    }
    try { call.call(setFrames, framesOf, error, own); } catch {}
    let head;
    try { head = String(error); } catch { head = 'Error'; }
    return head + stack;
  };
  const describe = (e) => {
    try {
      if (!(e instanceof Error)) return 'threw ' + String(e);
      const text = String(e.name) + ': ' + String(e.message);
      let own = '';
      // Reading the stack formats it, which notes the script's frames (unless the script set its own formatter).
      try { void e.stack; own = call.call(getFrames, framesOf, e) || ''; } catch {}
      return own ? call.call(slice, text, 0, 300) + '; at ' + own : text;
    } catch { return 'threw a value that cannot be shown'; }
  };
  // console writes lines the gateway logs with the script's name and the queue id, at most MAX_LINES per call of
  // MAX_CHARS each: a hostile script cannot flood the log.
  let lines = [], dropped = 0;
  const show = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return describe(v);
    try { const json = stringify(v); if (typeof json === 'string') return json; } catch {}
    try { return String(v); } catch { return '[a value that cannot be shown]'; }
  };
  const write = function () {
    if (lines.length >= MAX_LINES) { dropped++; return; }
    let line = '';
    for (let i = 0; i < arguments.length && line.length <= MAX_CHARS; i++) line += (i ? ' ' : '') + show(arguments[i]);
    lines[lines.length] = call.call(slice, call.call(replace, line, /[\\u0000-\\u001f\\u007f]+/g, ' '), 0, MAX_CHARS);
  };
  define(globalThis, 'console', { value: freeze({ log: write, info: write, warn: write, error: write, debug: write }), writable: true, configurable: true });
  const header = function (name) {
    const want = call.call(lower, String(name));
    for (const h of this.headers) if (call.call(lower, h.name) === want) return h.value;
    return undefined;
  };
  define(globalThis, '__mailmoat', { value: freeze({
    /** Runs the module's top-level code; '' when it set module.exports to a function, else what went wrong. */
    define(factory) {
      const module = { exports: {} };
      try { factory(module, module.exports); } catch (e) { return describe(e); }
      if (typeof module.exports !== 'function') return 'TypeError: the script must set module.exports to a function (it got ' + (module.exports === null ? 'null' : typeof module.exports) + ')';
      filter = module.exports;
      return '';
    },
    async call(json) {
      lines = [];
      dropped = 0;
      const msg = parse(json);
      define(msg, 'header', { value: header });
      let out;
      try { out = await filter(msg); } catch (e) { return stringify({ error: describe(e), logs: { lines, dropped } }); }
      try { return stringify({ result: out === undefined ? null : out, logs: { lines, dropped } }); }
      catch (e) { return stringify({ error: 'the result is not plain data: ' + describe(e), logs: { lines, dropped } }); }
    },
  }) });
})();`;
}

interface Loaded { vm: VmType }

let scripts: Loaded[] = [];
let maxResultChars = 0;

const send = openChannel(onMessage);

function errorText(e: unknown): string {
  try { return (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 500); } catch { return 'an error that cannot be shown'; }
}

/**
 * Resolves once the promise jobs a script left behind have all run. A script has no timers, so everything it can
 * still do after its answer is such jobs; an answer sent only after them means a script that keeps the process
 * spinning (an endless promise chain after `return`) misses its own deadline, instead of starving the next call,
 * which would be another message's.
 */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function load(list: ScriptSource[], syncTimeoutMs: number): Promise<void> {
  scripts = [];
  for (const s of list) {
    // No sandbox globals of ours: no require, no process, no timers; eval and Function are off.
    const vm = new VM({ timeout: syncTimeoutMs, eval: false, wasm: false, allowAsync: true, sandbox: {} });
    vm.run(prelude(s.name), { filename: 'mailmoat-prelude.js' });
    let failed: unknown;
    try {
      failed = vm.run(moduleSource(SCRIPT_HEAD, s.source), { filename: SCRIPT_FILE });
    } catch (e) {
      // A syntax error, or top-level code past its time: thrown here, outside the script's own code.
      const at = syntaxErrorAt(e, SCRIPT_HEAD, s.source);
      send({ type: 'init-error', script: s.name, error: errorText(e), ...(at ? { at } : {}) });
      return;
    }
    if (typeof failed === 'string' && failed) {
      send({ type: 'init-error', script: s.name, error: failed.slice(0, 500) });
      return;
    }
    scripts.push({ vm });
  }
  await settled();
  send({ type: 'ready' });
}

async function run(id: number, index: number, input: string): Promise<void> {
  const s = scripts[index];
  if (!s) { send({ type: 'result', id, ok: false, error: `no script number ${index}` }); return; }
  let text: unknown;
  try {
    s.vm.setGlobal('__mailmoatInput', input);
    text = await s.vm.run('__mailmoat.call(__mailmoatInput)', { filename: 'mailmoat-call.js' });
  } catch (e) {
    await settled();
    send({ type: 'result', id, ok: false, error: errorText(e) });
    return;
  }
  await settled();
  if (typeof text !== 'string') { send({ type: 'result', id, ok: false, error: 'the call gave no answer' }); return; }
  // Parsed whatever its length: the text is already in this process's capped heap, and only after the documented cuts
  // is its size the result's.
  const parsed = JSON.parse(text) as { result?: unknown; error?: string; logs: ScriptLogs };
  const logs = parsed.logs.lines.length || parsed.logs.dropped ? { logs: parsed.logs } : {};
  if (typeof parsed.error === 'string') { send({ type: 'result', id, ok: false, error: parsed.error.slice(0, 500), ...logs }); return; }
  cutDocumentedFields(parsed.result);
  const output = JSON.stringify(parsed.result ?? null);
  if (output.length <= maxResultChars) { send({ type: 'result', id, ok: true, output, ...logs }); return; }
  const most = largestField(parsed.result);
  send({ type: 'result', id, ok: false, error: `the result is larger than ${maxResultChars} characters (${output.length}): ${most.path.slice(0, 200)} holds ${most.chars} of them`, ...logs });
}

function onMessage(m: ToChild): void {
  if (m.type === 'init') { maxResultChars = m.maxResultChars; void load(m.scripts, m.syncTimeoutMs); return; }
  if (m.type === 'call') void run(m.id, m.script, m.input);
}
// A script's stray rejected promise must not end the child between calls; the gateway times the calls.
process.on('unhandledRejection', () => {});
process.on('uncaughtException', () => {});
