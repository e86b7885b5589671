// A one-line progress bar on stderr, drawn only when stderr is a terminal and at most ten times a second.
// It counts files and, when told of them (`message`), the messages read: one big mbox is one file, and a bar
// that counted files alone showed `0/1 0/s` for all of its 7,885 messages.

export class Progress {
  private total: number;
  private label: string;
  private done = 0;
  /** Messages read so far, when the reader tells (`message`); the rate is then messages per second. */
  private messages = 0;
  /** How far the item after the `done` ones is, from 0 to 1: one big mbox would otherwise hold the bar still. */
  private part = 0;
  private last = 0;
  private readonly start = Date.now();
  private readonly on: boolean;

  constructor(label: string, total: number, enabled = process.stderr.isTTY === true) {
    this.label = label;
    this.total = total;
    this.on = enabled;
  }

  tick(n = 1): void {
    this.done += n;
    this.part = 0;
    this.redraw(this.done >= this.total);
  }

  /** One more message read (of an mbox, or a file of one). */
  message(): void {
    this.messages++;
    this.redraw(false);
  }

  /** The share (0 to 1) of the current item done so far. */
  within(fraction: number): void {
    this.part = Math.min(1, Math.max(0, fraction));
    this.redraw(false);
  }

  /** Draws the bar unless it was drawn less than 100 ms ago (or `now`, as the last item ends). */
  private redraw(now: boolean): void {
    if (!this.on) return;
    const time = Date.now();
    if (time - this.last < 100 && !now) return;
    this.last = time;
    this.draw();
  }

  private draw(): void {
    const width = 30;
    const frac = this.total ? Math.min(1, (this.done + this.part) / this.total) : 1;
    const filled = Math.round(frac * width);
    const seconds = Math.max(0.001, (Date.now() - this.start) / 1000);
    const counts = this.messages
      ? `${this.messages} messages, ${this.done}/${this.total} files, ${(this.messages / seconds).toFixed(0)} msg/s`
      : `${this.done}/${this.total} ${(this.done / seconds).toFixed(0)}/s`;
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${counts} `);
  }

  finish(): void {
    if (!this.on) return;
    this.draw();
    process.stderr.write('\n');
  }
}
