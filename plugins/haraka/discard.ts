// Haraka's queue/discard in a gateway that queues itself: the one queue hook the shim runs, for the decision alone.
import { constants, type Any } from './cjs.ts';
import type { HookRegistry } from './registry.ts';
import { callPlugin } from './runner.ts';

const DISCARD = 'queue/discard';
/** Who set a notes object's `discard`, kept beside it and never enumerated with the notes. */
const SETTER = Symbol('haraka.discardSetter');

/**
 * Makes `notes.discard` remember the plugin that set it (the one whose hook is running, `current_hook`), so the log
 * can name who asked for a discard rather than the queue hook that acted on it.
 */
export function watchDiscardNote(notes: Any, owner: Any): void {
  let value: Any = notes.discard;
  Object.defineProperty(notes, SETTER, { value: undefined, writable: true, enumerable: false });
  Object.defineProperty(notes, 'discard', {
    enumerable: true,
    configurable: true,
    get: () => value,
    set: (v: Any) => {
      value = v;
      notes[SETTER] = v ? owner.current_hook?.[0]?.name : undefined;
    },
  });
}

/** A plugin whose `discard` method is queue/discard's: that plugin itself, or one that inherits it (aliases). */
function isDiscarder(plugin: Any): boolean {
  return plugin?.name === DISCARD || Boolean(plugin?.base?.[DISCARD]);
}

/** Whether this registered queue hook is queue/discard's, which the shim runs (the other queue hooks never run). */
export function isDiscardHook(registry: HookRegistry, hook: string, entry: { plugin: string; method: string }): boolean {
  return (hook === 'queue' || hook === 'queue_outbound') && entry.method === 'discard' && isDiscarder(registry.plugins.get(entry.plugin));
}

export interface DiscardDecision {
  /** The plugin that asked (set the note), or the queue plugin when no note says who. */
  plugin: string;
  /** What asked: `transaction.notes.discard`, `connection.notes.discard` or `queue.wants=discard`. */
  via: string;
}

/**
 * Runs queue/discard's hooks as Haraka's queue step would (queue_outbound for a relaying client) and returns who
 * asked when one answers OK, Haraka's "pretend we delivered". Only these hooks run: the ones delivering the mail
 * (smtp_forward…) stay idle, since Mailmoat queues and relays the message itself.
 */
export async function discardAsked(registry: HookRegistry, conn: Any): Promise<DiscardDecision | undefined> {
  const hook = conn.relaying ? 'queue_outbound' : 'queue';
  for (const entry of registry.hooks.get(hook) ?? []) {
    if (!isDiscardHook(registry, hook, entry)) continue;
    const plugin = registry.plugins.get(entry.plugin);
    const r = await callPlugin(plugin, entry.method, hook, conn, undefined, registry.limitMs(plugin));
    if (r.retval !== constants.ok) continue;
    const txnNotes = conn.transaction?.notes;
    if (txnNotes?.discard) return { plugin: txnNotes[SETTER] ?? plugin.name, via: 'transaction.notes.discard' };
    if (conn.notes?.discard) return { plugin: conn.notes[SETTER] ?? plugin.name, via: 'connection.notes.discard' };
    return { plugin: plugin.name, via: txnNotes?.get?.('queue.wants') === 'discard' ? 'queue.wants=discard' : 'YES_REALLY_DO_DISCARD' };
  }
  return undefined;
}
