// The log lines of PROXY headers refused or never finished. They come from trusted proxies only, but a proxy set up
// wrong (sending v2 where v1 is read, or no header at all) fails every connection it forwards: a line for each would
// be one per client the proxy serves. So each proxy and cause gets a line at its first event, then at most one a
// minute with how many followed, as connection-refusal-log.ts does for the connection limits.
import type { Logger, LogFields } from '../log/types.ts';
import { DueTimer, RepeatCounter } from './repeat-counter.ts';
import { REFUSAL_LINE_INTERVAL_MS } from './connection-refusal-log.ts';

export type ProxyHeaderEvent = 'refused' | 'timed out';

const LINES: Record<ProxyHeaderEvent, { level: 'info' | 'warn'; msg: string }> = {
  // A client refusal, as the connection is closed unread (and counted in connections_refused).
  refused: { level: 'info', msg: 'client refused: invalid PROXY header' },
  // The proxy's setup, most likely (no send-proxy on HAProxy's server line), so it is a warning.
  'timed out': { level: 'warn', msg: 'PROXY header timed out' },
};

interface Held { event: ProxyHeaderEvent; proxy: string; listener: string; cause: string }

export class ProxyHeaderLog {
  private readonly repeats: RepeatCounter;
  private log?: Logger;
  private readonly timer: DueTimer;

  constructor(now: () => number = Date.now, intervalMs = REFUSAL_LINE_INTERVAL_MS) {
    this.repeats = new RepeatCounter(now, intervalMs);
    this.timer = new DueTimer(now, [this.repeats], () => this.flush());
  }

  /**
   * One header refused or timed out from `proxy`; `cause` (a refusal's reason, or what the timeout found) keys the
   * counting with the proxy, and `fields` go on a first line only.
   */
  event(log: Logger, event: ProxyHeaderEvent, h: { proxy: string; listener: string; cause: string }, fields: LogFields = {}): void {
    this.log = log;
    this.flush();
    const held: Held = { event, proxy: h.proxy, listener: h.listener, cause: h.cause };
    // The key is what its count's line will say, so nothing else need be kept for it.
    const key = JSON.stringify(held);
    if (this.repeats.event(key, key)) write(log, held, fields);
    this.timer.arm();
  }

  /** Writes the counts whose minute is over; run by the timer and at each event. */
  flush(): void {
    const log = this.log;
    if (!log) return;
    for (const s of this.repeats.due()) write(log, JSON.parse(s.detail) as Held, { count: s.count, seconds: Math.round(s.sinceMs / 1000) }, ', repeated');
  }
}

function write(log: Logger, h: Held, fields: LogFields, suffix = ''): void {
  const line = LINES[h.event];
  log[line.level](line.msg + suffix, { proxy: h.proxy, listener: h.listener, reason: h.cause, ...fields });
}
