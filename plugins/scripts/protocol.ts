// The messages between the gateway and a sandbox child over its pipe (framing.ts): plain JSON only, never host objects.

/** A script as the child gets it: the gateway reads the file, the child never touches the file system for it. */
export interface ScriptSource {
  name: string;
  source: string;
}

export type ToChild =
  | { type: 'init'; scripts: ScriptSource[]; syncTimeoutMs: number; maxResultChars: number }
  /** `input` is the snapshot as JSON text, parsed inside the sandbox so the script sees objects of its own realm. */
  | { type: 'call'; id: number; script: number; input: string };

export type FromChild =
  | { type: 'ready' }
  /** `at` is `line:column` in the script's file, for a syntax error. */
  | { type: 'init-error'; script: string; error: string; at?: string }
  /** `output` is the script's result as JSON text (`null` when it returned nothing); `logs` what it wrote to `console`. */
  | { type: 'result'; id: number; ok: true; output: string; logs?: ScriptLogs }
  | { type: 'result'; id: number; ok: false; error: string; logs?: ScriptLogs };

/** A call's console lines (at most LOG_LIMITS of them, each cut), and how many more it wrote. */
export interface ScriptLogs {
  lines: string[];
  dropped: number;
}

/** What receives a script's module function in the sandbox (sandbox-child.ts); check-config compiles it the same way. */
export const SCRIPT_HEAD = '__mailmoat.define';
/** The file name a script is compiled under: not a path, so vm2 shows its frames to the sandbox (it hides a host's). */
export const SCRIPT_FILE = 'mailmoat-script.js';

/**
 * A script's source inside the CommonJS-style module scope it runs in, given `head` (what receives the function): the
 * wrapper shares the script's first line so that its line numbers stay the file's. The sandbox compiles and runs it;
 * `moat check-config` only parses and compiles it (script-syntax.ts), so the two judge the same text.
 */
export function moduleSource(head: string, source: string): string {
  return `${moduleOpening(head)}${source}\n});`;
}

/** What moduleSource puts before the script on its first line: columns there are shifted by its length. */
export function moduleOpening(head: string): string {
  return `${head}(function (module, exports) {`;
}
