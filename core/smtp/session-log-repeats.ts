// Refusals a session repeats word for word (MAIL and 100,000 pipelined RCPTs, each answered `452 4.5.3 Too many
// recipients`) are logged the first few times, then only counted; the session's `connection closed` line says how
// many of each were left out. One full line per refusal let a single client grow the log by 25 MB in seconds, and
// the hundredth identical line tells an admin nothing the third did not. Metrics still count every refusal.

/** Identical refusals of one session logged in full; the last of them says that the rest go unlogged. */
export const LOGGED_REPEATS = 3;
/**
 * Kinds of refusal tracked per session. Past this many kinds every further one is logged: a reply that differs for
 * each recipient (one naming the address) never repeats, and must not grow the session's memory.
 */
const MAX_KINDS = 32;

export interface UnloggedRefusals { msg: string; reply: string; plugin?: string; count: number }

interface Kind { msg: string; reply: string; plugin?: string; seen: number }

export class RepeatedRefusals {
  private readonly sessions = new Map<string, Map<string, Kind>>();

  /**
   * Notes one refusal (`msg`, the log line's message; `reply` as sent; the refusing plugin, if any): `log` to write its
   * line, `last` to write it saying the next identical ones will not be, `skip` to leave it out.
   */
  note(sessionId: string, msg: string, reply: string, plugin?: string): 'log' | 'last' | 'skip' {
    let kinds = this.sessions.get(sessionId);
    if (!kinds) this.sessions.set(sessionId, (kinds = new Map()));
    const key = `${msg}\0${reply}\0${plugin ?? ''}`;
    let kind = kinds.get(key);
    if (!kind) {
      if (kinds.size >= MAX_KINDS) return 'log';
      kinds.set(key, (kind = { msg, reply, ...(plugin ? { plugin } : {}), seen: 0 }));
    }
    kind.seen++;
    return kind.seen < LOGGED_REPEATS ? 'log' : kind.seen === LOGGED_REPEATS ? 'last' : 'skip';
  }

  /** The refusals of `sessionId` that were left out of the log, for its closing line; forgets the session. */
  end(sessionId: string): UnloggedRefusals[] | undefined {
    const kinds = this.sessions.get(sessionId);
    this.sessions.delete(sessionId);
    if (!kinds) return undefined;
    const left = [...kinds.values()].filter((k) => k.seen > LOGGED_REPEATS)
      .map(({ msg, reply, plugin, seen }) => ({ msg, reply, ...(plugin ? { plugin } : {}), count: seen - LOGGED_REPEATS }));
    return left.length ? left : undefined;
  }
}
