// The capabilities hook and the hooks of NOOP, VRFY, RSET, QUIT and unknown verbs: who has them, and their replies.
import type { CommandHookName, HookName } from '../hooks/hook-names.ts';
import type { CommandView } from '../hooks/context.ts';
import type { Outcome } from '../hooks/outcome.ts';
import type { LoadedPlugin } from '../plugin/loader.ts';
import { replyFor, type Reply } from './reply.ts';

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

type Default = [number, string];
interface CommandDefaults { accept: [number, string, string]; reject: Default; tempfail: Default }

/** Replies for outcomes; `continue` keeps smtp-server's own answer (NOOP 250, VRFY 252, RSET 250, QUIT 221, 500 5.5.2). */
const DEFAULTS: Record<CommandHookName, CommandDefaults> = {
  noop: { accept: [250, '2.0.0', 'OK'], reject: [500, '5.5.1'], tempfail: [450, '4.7.1'] },
  vrfy: { accept: [250, '2.1.5', 'User OK'], reject: [550, '5.7.1'], tempfail: [450, '4.7.1'] },
  rset: { accept: [250, '2.0.0', 'Flushed'], reject: [550, '5.7.1'], tempfail: [450, '4.7.1'] },
  unrecognizedCommand: { accept: [250, '2.0.0', 'OK'], reject: [500, '5.5.2'], tempfail: [451, '4.7.1'] },
  quit: { accept: [221, '2.0.0', 'Bye'], reject: [550, '5.7.1'], tempfail: [421, '4.7.0'] },
};

const ENHANCED = /^\d\.\d{1,3}\.\d{1,3}\b/;

/**
 * The reply for a command hook's outcome (undefined for continue). `accept` may carry any 2xx or 3xx code (a plugin
 * speaking its own extension, e.g. 334); 3xx texts get no enhanced code.
 */
export function commandReply(hook: CommandHookName, o: Outcome): (Reply & { close: boolean }) | undefined {
  const d = DEFAULTS[hook];
  if (o.action === 'continue') return undefined;
  if (o.action === 'accept' || o.action === 'quarantine') {
    const code = o.code && o.code >= 200 && o.code < 400 ? o.code : d.accept[0];
    const enhanced = o.enhanced ?? d.accept[1];
    const tag = (l: string) => (code >= 300 || ENHANCED.test(l) ? l : `${enhanced} ${l}`);
    const raw = o.text ?? d.accept[2];
    return { code, text: Array.isArray(raw) ? raw.map(tag) : tag(raw), close: false };
  }
  if (o.action === 'disconnect') return { ...replyFor('connect', o), close: true };
  const [code, enhanced] = d[o.action];
  const fits = o.action === 'reject' ? (o.code ?? 0) >= 500 && (o.code ?? 0) < 600 : (o.code ?? 0) >= 400 && (o.code ?? 0) < 500;
  const r = replyFor('data', { ...o, code: fits ? o.code : code, enhanced: o.enhanced ?? enhanced });
  return { ...r, close: false };
}
