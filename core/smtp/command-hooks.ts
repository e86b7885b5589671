// The capabilities hook and the hooks of NOOP, VRFY, RSET, QUIT and unknown verbs: who has them, and their replies.
import type { CommandHookName, HookName } from '../hooks/hook-names.ts';
import type { CommandView } from '../hooks/context.ts';
import type { Outcome } from '../hooks/outcome.ts';
import type { LoadedPlugin } from '../plugin/loader.ts';
import { replyFor, withEnhanced, type Reply } from './reply.ts';

const hooksByChain = new WeakMap<readonly LoadedPlugin[], ReadonlySet<HookName>>();

/**
 * The hooks some plugin of this chain handles. A reload replaces the array, so the set is computed once per chain
 * and a command whose hook nobody has goes straight to smtp-server's own answer.
 */
export function chainHooks(plugins: readonly LoadedPlugin[]): ReadonlySet<HookName> {
  let set = hooksByChain.get(plugins);
  if (!set) {
    const s = new Set<HookName>();
    for (const p of plugins) for (const name of Object.keys(p.instance.hooks) as HookName[]) if (p.instance.hooks[name]) s.add(name);
    set = s;
    hooksByChain.set(plugins, set);
  }
  return set;
}

/** `XFOO  a b` → verb `XFOO`, args `a b`, line as sent. */
export function parseCommand(line: string): CommandView {
  const m = /^(\S*)\s*(.*)$/s.exec(line.replace(/\r?\n$/, ''))!;
  return { verb: m[1].toUpperCase(), args: m[2], line: m[0] };
}

/**
 * Accept replies; `continue` keeps smtp-server's own answer (NOOP 250, VRFY 252, RSET 250, QUIT 221, 500 5.5.2) and
 * refusals take their codes from the command's entry in reply.ts.
 */
const ACCEPT: Record<CommandHookName, [number, string, string]> = {
  noop: [250, '2.0.0', 'OK'],
  vrfy: [250, '2.1.5', 'User OK'],
  rset: [250, '2.0.0', 'Flushed'],
  unrecognizedCommand: [250, '2.0.0', 'OK'],
  quit: [221, '2.0.0', 'Bye'],
};

/**
 * The reply for a command hook's outcome (undefined for continue). `accept` may carry any 2xx or 3xx code (a plugin
 * speaking its own extension, e.g. 334); 3xx texts get no enhanced code.
 */
export function commandReply(hook: CommandHookName, o: Outcome): (Reply & { close: boolean }) | undefined {
  if (o.action === 'continue') return undefined;
  if (o.action === 'accept' || o.action === 'quarantine') {
    const d = ACCEPT[hook];
    const code = o.code && o.code >= 200 && o.code < 400 ? o.code : d[0];
    const enhanced = o.enhanced ?? d[1];
    const tag = (l: string) => (code >= 300 ? l : withEnhanced(enhanced, l));
    const raw = o.text ?? d[2];
    return { code, text: Array.isArray(raw) ? raw.map(tag) : tag(raw), close: false };
  }
  return { ...replyFor(hook, o), close: o.action === 'disconnect' };
}
