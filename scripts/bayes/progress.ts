// A one-line progress bar on stderr, drawn only when stderr is a terminal and at most ten times a second.

export class Progress {
  private total: number;
  private label: string;
  private done = 0;
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
    if (!this.on) return;
    const now = Date.now();
    if (now - this.last < 100 && this.done < this.total) return;
    this.last = now;
    this.draw();
  }

  private draw(): void {
    const width = 30;
    const frac = this.total ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(frac * width);
    const rate = this.done / Math.max(0.001, (Date.now() - this.start) / 1000);
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${this.done}/${this.total} ${rate.toFixed(0)}/s `);
  }

  finish(): void {
    if (!this.on) return;
    this.draw();
    process.stderr.write('\n');
  }
}
