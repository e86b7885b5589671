// The `quarantine link refused` lines. Anyone can send the pages a bad link, or a thousand, and each refusal was one
// info line: the first few of each reason each minute are still written as they come, the rest counted and written as
// one line at the minute's end (`quarantine links refused`, with the count by reason).
import type { Logger } from '../log/types.ts';
import { ThrottledLog } from '../http/throttled-log.ts';

/** Refusals of one reason written each minute before they are only counted. */
export const REFUSALS_LOGGED_FREE = 5;

const byLog = new WeakMap<Logger, ThrottledLog>();

/** Logs one refusal of a quarantine link or form (never with its ticket), or counts it past the minute's first few. */
export function logRefusal(log: Logger | undefined, fields: { reason: string } & Record<string, unknown>): void {
  if (!log) return;
  let throttle = byLog.get(log);
  if (!throttle) {
    throttle = new ThrottledLog({
      free: REFUSALS_LOGGED_FREE,
      perKey: true,
      line: (f) => log.info('quarantine link refused', f),
      summary: (held, byKey) => log.info('quarantine links refused', { refused: held, by_reason: Object.fromEntries(byKey), window_s: 60 }),
    });
    byLog.set(log, throttle);
  }
  throttle.note(fields.reason, fields);
}
