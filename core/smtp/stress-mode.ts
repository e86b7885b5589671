// Stress, as Postfix's smtpd has it: when the connections open reach server.stress_threshold of
// limits.max_connections, the gateway is short of room, and idle sessions are what a flood fills it with (60 addresses
// holding their 20 connections each keep everyone else out for a whole idle_timeout). While in stress:
// - a session waiting for the client's next command (new ones, and those already open) may stay quiet for
//   server.stress_idle_timeout, and a command line must be complete within it; a new one waiting for its greeting
//   (slow connect hooks: a blocklist, a PTR lookup) waits for us, and its time starts at the greeting (patches.ts);
// - limits.max_errors and max_junk_commands are 1, as Postfix's hard error and junk command limits under stress: the
//   first refusal goes out as it is, the 421 right behind it (session-handler.ts countError, limits-errors-close.ts);
// - from the 354 to the final dot a message keeps idle_timeout (at least DATA_BLOCK_MS) and data_timeout: a slow
//   upload that goes on is not cut, and one whose final dot came is answered (smtp-server does not time out a session
//   waiting for our reply);
// - relay.networks, access.allow_ips and logged-in sessions keep the ordinary limits: they are not the flood.
// Stress ends when the connections fall below three quarters of the mark that began it, so a count hovering at the
// mark does not switch it on and off at every connection.

/** Where stress ends, as a share of the count that began it. */
export const LEAVE_SHARE = 0.75;
/** The least time between two lines saying stress began: a count made to swing across both marks writes no more. */
export const STRESS_LINE_INTERVAL_MS = 60_000;
/** What an idle client closed early is told (the ordinary idle timeout says `4.4.2 Timeout - closing connection`). */
export const STRESS_TIMEOUT_TEXT = '4.4.2 Timeout - server busy, idle connections are closed sooner; closing connection';

/** The count that begins stress, and the one below which it ends. */
export interface StressMarks { enterAt: number; leaveBelow: number }

/** What stress is judged against: server.stress_threshold (0 = never) and limits.max_connections. */
export interface StressSettings { threshold: number; max: number }

/** The marks for `s`, or undefined when stress is off. */
export function stressMarks(s: StressSettings): StressMarks | undefined {
  if (!(s.threshold > 0)) return undefined;
  const enterAt = Math.max(1, Math.ceil(s.threshold * s.max));
  return { enterAt, leaveBelow: Math.max(1, Math.floor(enterAt * LEAVE_SHARE)) };
}

/** A line to write about stress beginning or ending. */
export interface StressLine { level: 'warn' | 'info'; msg: string; fields: Record<string, number> }

/** Stress began (`active`) or ended; `line` is missing when the lines' bound kept it back. */
export interface StressChange { active: boolean; line?: StressLine }

interface Episode { since: number; peak: number; closedEarly: number; logged: boolean }

export class StressMode {
  private episode?: Episode;
  private settings?: StressSettings;
  private readonly watchers = new Set<(c: StressChange) => void>();
  private readonly now: () => number;
  private lastLineAt = -Infinity;
  /** Episodes whose lines the bound kept back, and the sessions they closed early, for the next line written. */
  private unlogged = { episodes: 0, closedEarly: 0 };

  constructor(now: () => number = Date.now) { this.now = now; }

  get active(): boolean { return this.episode !== undefined; }

  /**
   * The count of open connections changed to `open`; `settings` when the caller has them (at an open: a reload's
   * threshold applies from there), else the last ones given.
   */
  observe(open: number, settings?: StressSettings): void {
    if (settings) this.settings = settings;
    const marks = this.settings && stressMarks(this.settings);
    const ep = this.episode;
    if (ep) {
      ep.peak = Math.max(ep.peak, open);
      if (!marks || open < marks.leaveBelow) this.leave(ep, open, marks);
    } else if (marks && open >= marks.enterAt) this.enter(open, marks);
  }

  /** A session that stress's shorter idle timeout closed. */
  closedEarly(): void { if (this.episode) this.episode.closedEarly++; }

  /** A per-session limit (limits.max_errors, max_junk_commands) as it stands now for a client, exempt or not. */
  limit(configured: number, exempt: boolean): number { return this.episode && !exempt ? Math.min(configured, 1) : configured; }

  /** Calls `fn` at each change, until the function returned is called. */
  watch(fn: (c: StressChange) => void): () => void {
    this.watchers.add(fn);
    return () => { this.watchers.delete(fn); };
  }

  private enter(open: number, marks: StressMarks): void {
    const now = this.now();
    const logged = now - this.lastLineAt >= STRESS_LINE_INTERVAL_MS;
    this.episode = { since: now, peak: open, closedEarly: 0, logged };
    let line: StressLine | undefined;
    if (logged) {
      this.lastLineAt = now;
      const held: Record<string, number> = this.unlogged.episodes ? { episodes_not_logged: this.unlogged.episodes, closed_early_not_logged: this.unlogged.closedEarly } : {};
      this.unlogged = { episodes: 0, closedEarly: 0 };
      line = { level: 'warn', msg: 'stress: on', fields: { open, max: this.settings!.max, enter_at: marks.enterAt, leave_below: marks.leaveBelow, ...held } };
    }
    this.tell({ active: true, line });
  }

  private leave(ep: Episode, open: number, marks: StressMarks | undefined): void {
    this.episode = undefined;
    let line: StressLine | undefined;
    if (ep.logged) {
      line = { level: 'info', msg: 'stress: off', fields: { open, ...(marks ? { leave_below: marks.leaveBelow } : {}), lasted_s: Math.round((this.now() - ep.since) / 1000), peak_open: ep.peak, closed_early: ep.closedEarly } };
    } else {
      this.unlogged.episodes++;
      this.unlogged.closedEarly += ep.closedEarly;
    }
    this.tell({ active: false, line });
  }

  private tell(c: StressChange): void { for (const fn of this.watchers) fn(c); }
}

interface Member { has(ip: string): boolean }

/** The part of the runtime the timeouts are read from at each call (the Runtime fits), so a reload applies at once. */
export interface StressSource {
  config: { server: { idle_timeout: number; stress_idle_timeout: number } };
  policy: { relay: Member; allow: Member };
  connections: { stress: StressMode };
}

/** What a session's idle timeout is judged on: an smtp-server connection (patches.ts's RawConnection fits). */
export interface IdleSession {
  /** The client's address (the one XCLIENT named, once it did), in the core's form. */
  ip: string;
  loggedIn: boolean;
  /** The message is being sent: after the 354, before the final dot. */
  inData: boolean;
}

/** A quiet time: stress's shorter one (`stressed`), or idle_timeout. */
export interface QuietTime { ms: number; stressed: boolean }

/**
 * The least quiet time between two blocks of a message (RFC 5321 §4.5.3.2.5): a client waits 3 minutes for each of
 * its writes to be taken, and may pause as long between them; a shorter idle_timeout cut such a client off mid-DATA.
 * limits.data_timeout still bounds the whole message.
 */
export const DATA_BLOCK_MS = 180_000;

/** How long a session may stay quiet now. */
export function idleTimeoutOf(src: StressSource, s: IdleSession): QuietTime {
  if (s.inData) return { ms: Math.max(src.config.server.idle_timeout, DATA_BLOCK_MS), stressed: false };
  return quietTime(src, () => !s.loggedIn && !exempt(src, s.ip));
}

/** How long a socket of `ip` may take to finish its TLS handshake on the implicit-TLS port now. */
export function handshakeTimeoutOf(src: StressSource, ip: string): QuietTime {
  return quietTime(src, () => !exempt(src, ip));
}

/** `cut` is asked only under stress: the exemption lookups would be wasted on every other call. */
function quietTime(src: StressSource, cut: () => boolean): QuietTime {
  const idle = src.config.server.idle_timeout;
  if (!src.connections.stress.active || !cut()) return { ms: idle, stressed: false };
  const ms = Math.min(idle, src.config.server.stress_idle_timeout);
  return { ms, stressed: ms < idle };
}

function exempt(src: StressSource, ip: string): boolean { return src.policy.relay.has(ip) || src.policy.allow.has(ip); }
