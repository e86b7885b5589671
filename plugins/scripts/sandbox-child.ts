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
import { moduleSource, type ScriptSource, type ToChild } from './protocol.ts';

lockNetwork();
lockSignals();

const vm2Path = process.argv[2];
const { VM } = createRequire(import.meta.url)(vm2Path) as typeof import('vm2');

/**
 * Runs first in every script's context, before the script: takes away what could allocate memory outside the heap
 * cap (typed arrays, wasm memories), and defines the loader and the call entry with the intrinsics captured now, so a
 * script that replaces JSON or Promise methods changes only its own results, never how they are read.
 */
const PRELUDE = `(function () {
  'use strict';
  const parse = JSON.parse, stringify = JSON.stringify, define = Object.defineProperty, isArray = Array.isArray;
  const lower = String.prototype.toLowerCase, call = Function.prototype.call;
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray',
    'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array',
    'BigInt64Array', 'BigUint64Array', 'WebAssembly', 'Atomics', 'Buffer']) delete globalThis[name];
  let filter;
  // vm2 hides stack frames from the sandbox, so the name and message are what a script author gets.
  const describe = (e) => {
    try { return e instanceof Error ? String(e.name) + ': ' + String(e.message) : 'threw ' + String(e); }
    catch { return 'threw a value that cannot be shown'; }
  };
  const header = function (name) {
    const want = call.call(lower, String(name));
    for (const h of this.headers) if (call.call(lower, h.name) === want) return h.value;
    return undefined;
  };
  define(globalThis, '__mailmoat', { value: Object.freeze({
    define(factory) {
      const module = { exports: {} };
      factory(module, module.exports);
      if (typeof module.exports !== 'function') throw new TypeError('the script must set module.exports to a function (it got ' + (module.exports === null ? 'null' : typeof module.exports) + ')');
      filter = module.exports;
    },
    async call(json) {
      const msg = parse(json);
      define(msg, 'header', { value: header });
      let out;
      try { out = await filter(msg); } catch (e) { return stringify({ error: describe(e) }); }
      try { return stringify({ result: out === undefined ? null : out }); }
      catch (e) { return stringify({ error: 'the result is not plain data: ' + describe(e) }); }
    },
  }) });
})();`;

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
    vm.run(PRELUDE, { filename: 'mailmoat-prelude.js' });
    try {
      vm.run(moduleSource('__mailmoat.define', s.source), { filename: s.name });
    } catch (e) {
      send({ type: 'init-error', script: s.name, error: errorText(e) });
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
  if (text.length > maxResultChars) { send({ type: 'result', id, ok: false, error: `the result is larger than ${maxResultChars} characters` }); return; }
  const parsed = JSON.parse(text) as { result?: unknown; error?: string };
  if (typeof parsed.error === 'string') send({ type: 'result', id, ok: false, error: parsed.error.slice(0, 500) });
  else send({ type: 'result', id, ok: true, output: JSON.stringify(parsed.result ?? null) });
}

function onMessage(m: ToChild): void {
  if (m.type === 'init') { maxResultChars = m.maxResultChars; void load(m.scripts, m.syncTimeoutMs); return; }
  if (m.type === 'call') void run(m.id, m.script, m.input);
}
// A script's stray rejected promise must not end the child between calls; the gateway times the calls.
process.on('unhandledRejection', () => {});
process.on('uncaughtException', () => {});
