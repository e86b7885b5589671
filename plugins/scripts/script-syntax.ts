// A script's syntax judged as the sandbox will judge it, for `moat check-config` and the plugin's check.
//
// vm2 does not hand every script straight to V8: one whose text holds `catch`, `async`, `import`, `with` or a `\u`
// escape is first parsed by vm2's own transformer (acorn, set to ES2022), which refuses syntax V8 takes (a RegExp `v`
// flag, RegExp modifiers, duplicate named groups, `using`). A check by V8 alone would pass a script the start then
// refuses, so this runs vm2's own transformer on the same module text and compiles its output, as VM.run does.
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { moduleSource, SCRIPT_FILE, SCRIPT_HEAD } from './protocol.ts';
import { syntaxErrorAt } from './script-position.ts';

/** vm2's lib/transformer.js export: not in vm2's typings, a private file of the very vm2 the sandbox loads. */
type Transformer = (args: null, code: string, isAsync: boolean, isGenerator: boolean, filename: string) => { code: string };

let transformer: Transformer | undefined;

function vm2Transformer(): Transformer {
  if (!transformer) {
    // Resolved as pool.ts resolves the vm2 its children load, so check and sandbox cannot use two different parsers.
    const vm2Main = createRequire(import.meta.url).resolve('vm2');
    transformer = (createRequire(vm2Main)('./lib/transformer.js') as { transformer: Transformer }).transformer;
  }
  return transformer;
}

export interface ScriptSyntaxError {
  message: string;
  /** `line:column` in the script's file, when the error gives a position. */
  at?: string;
}

/** Why the sandbox would refuse to compile `source` as a script, or undefined when it compiles. Never runs it. */
export function scriptSyntaxError(source: string): ScriptSyntaxError | undefined {
  try {
    const { code } = vm2Transformer()(null, moduleSource(SCRIPT_HEAD, source), false, false, SCRIPT_FILE);
    new Script(code, { filename: SCRIPT_FILE });
    return undefined;
  } catch (e) {
    const at = syntaxErrorAt(e, SCRIPT_HEAD, source);
    return { message: e instanceof Error ? e.message : String(e), ...(at ? { at } : {}) };
  }
}
