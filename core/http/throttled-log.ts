// A log line that anyone on the network can cause (a refused connection, a refused link) must not let them fill the
// disk or drown the lines an admin needs: the first few of a window are written as they come, the rest only counted,
// and one line at the window's end gives the count. A flood that goes on then costs one line per window.

/** Distinct keys counted in one window; the rest are counted under OTHER_KEY, so a flood from many sources stays small. */
const KEYS_MAX = 100;
export const OTHER_KEY = 'other';

export interface ThrottledLogOptions {
  /** Lines written as they come in a window (of each key, with `perKey`); those after them are counted. */
  free: number;
  /**
   * Whether each key has `free` lines of its own, so a flood of one kind does not hide the first of another; a flood
   * from many sources should share them (the default), or each would bring its own lines.
   */
  perKey?: boolean;
  /** Length of a window, from its first line; a minute by default. */
  windowMs?: number;
  /** Writes one line as it came. */
  line(fields: Record<string, unknown>): void;
  /** Writes the count of the lines held back in a window that ended: in all, and by the key each was noted with. */
  summary(held: number, byKey: ReadonlyMap<string, number>): void;
}

export class ThrottledLog {
  private readonly opts: ThrottledLogOptions;
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Lines written in this window, by key (under one key without perKey). */
  private written = new Map<string, number>();
  /** Whether this window has no free lines: it follows one that ended with a summary. */
  private spent = false;
  private held = 0;
  private byKey = new Map<string, number>();

  constructor(opts: ThrottledLogOptions) {
    this.opts = opts;
    this.windowMs = opts.windowMs ?? 60_000;
  }

  /** One occurrence: written while the window has free lines for it, else counted under `key`. */
  note(key: string, fields: Record<string, unknown>): void {
    if (!this.timer) this.startWindow(false);
    const freeKey = this.opts.perKey ? key : '';
    const used = this.written.get(freeKey) ?? 0;
    if (!this.spent && used < this.opts.free && (used > 0 || this.written.size < KEYS_MAX)) {
      this.written.set(freeKey, used + 1);
      this.opts.line(fields);
      return;
    }
    this.held++;
    const k = this.byKey.has(key) || this.byKey.size < KEYS_MAX ? key : OTHER_KEY;
    this.byKey.set(k, (this.byKey.get(k) ?? 0) + 1);
  }

  /** Writes what is held back now (a stop), and ends the window. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }

  private startWindow(spent: boolean): void {
    this.written = new Map();
    this.spent = spent;
    this.timer = setTimeout(() => this.windowEnded(), this.windowMs);
    this.timer.unref();
  }

  private windowEnded(): void {
    this.timer = undefined;
    // The summary is the next window's line: while a flood goes on, one line per window and no more.
    if (this.flush()) this.startWindow(true);
  }

  private flush(): boolean {
    if (!this.held) return false;
    const { held, byKey } = this;
    this.held = 0;
    this.byKey = new Map();
    this.opts.summary(held, byKey);
    return true;
  }
}
