// The `time` and `weekday` criteria (Proxmox Mail Gateway's "when" objects): the wall clock in a chosen time zone.

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface WallClock { weekday: number; minutes: number }

/** Weekday (0 = Sunday) and minutes since midnight of `now` in `timeZone` (the gateway's own zone when undefined). */
export function wallClock(now: Date, timeZone?: string): WallClock {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', hour: '2-digit', minute: '2-digit' }).formatToParts(now);
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { weekday: WEEKDAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as typeof WEEKDAYS[number]), minutes: Number(get('hour')) * 60 + Number(get('minute')) };
}

/** `08:00-17:30` as minutes [from, to); an end before its start wraps past midnight. Undefined when malformed. */
export function parseTimeRange(text: string): { from: number; to: number } | undefined {
  const m = /^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$/.exec(text);
  if (!m) return undefined;
  const [h1, m1, h2, m2] = m.slice(1).map(Number);
  if (h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || (h2 === 24 && m2 !== 0)) return undefined;
  return { from: h1 * 60 + m1, to: h2 * 60 + m2 };
}

export function inTimeRange(range: { from: number; to: number }, minutes: number): boolean {
  return range.from <= range.to ? minutes >= range.from && minutes < range.to : minutes >= range.from || minutes < range.to;
}

const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

/** A day written as its three letters or its whole name (`sun`, `Sunday`); -1 for anything else (`sunshine`). */
function dayNumber(word: string | undefined): number {
  if (word === undefined) return -1;
  const short = WEEKDAYS.indexOf(word as typeof WEEKDAYS[number]);
  return short >= 0 ? short : DAY_NAMES.indexOf(word);
}

/** `mon`, `mon-fri`, `sat-mon` as the set of weekday numbers it covers; undefined when a name is unknown. */
export function parseWeekdays(text: string): Set<number> | undefined {
  const [a, b, extra] = text.trim().toLowerCase().split(/\s*-\s*/);
  const from = dayNumber(a);
  const to = b === undefined ? from : dayNumber(b);
  if (from < 0 || to < 0 || extra !== undefined) return undefined;
  const days = new Set<number>();
  for (let d = from; ; d = (d + 1) % 7) { days.add(d); if (d === to) break; }
  return days;
}
