// The delivery queue's timetable: keys (message ids, destinations) by the time they are next due, earliest first.

/**
 * A binary min-heap of keys by time, each key at most once, with its place kept per key so that moving or removing
 * one costs O(log n). Ties go to the smaller key: message ids sort by age, so the older of two due at once goes first.
 * The scheduler looks only at what is due, however many keys wait behind it (Postfix's qmgr likewise keeps its
 * deferred mail out of its scans until the queue-run time of each comes).
 */
export class DueHeap {
  private readonly keys: string[] = [];
  private readonly times: number[] = [];
  private readonly place = new Map<string, number>();

  get size(): number { return this.keys.length; }

  /** When `key` is due, or undefined if it is not in the heap. */
  timeOf(key: string): number | undefined {
    const i = this.place.get(key);
    return i === undefined ? undefined : this.times[i];
  }

  /** The earliest time in the heap; Infinity when it is empty. */
  get next(): number { return this.keys.length ? this.times[0] : Infinity; }

  /** Puts `key` at `time`, or moves it there. A time of Infinity removes it: nothing would ever make it due. */
  set(key: string, time: number): void {
    if (time === Infinity) { this.delete(key); return; }
    const i = this.place.get(key);
    if (i === undefined) {
      this.keys.push(key);
      this.times.push(time);
      this.place.set(key, this.keys.length - 1);
      this.up(this.keys.length - 1);
      return;
    }
    const before = this.times[i];
    this.times[i] = time;
    if (time < before) this.up(i); else this.down(i);
  }

  delete(key: string): boolean {
    const i = this.place.get(key);
    if (i === undefined) return false;
    this.place.delete(key);
    const lastKey = this.keys.pop()!;
    const lastTime = this.times.pop()!;
    if (i < this.keys.length) {
      this.keys[i] = lastKey;
      this.times[i] = lastTime;
      this.place.set(lastKey, i);
      this.up(i);
      this.down(i);
    }
    return true;
  }

  /** Takes out the earliest key if it is due by `now`. */
  popDue(now: number): string | undefined {
    if (this.keys.length === 0 || this.times[0] > now) return undefined;
    const key = this.keys[0];
    this.delete(key);
    return key;
  }

  clear(): void {
    this.keys.length = 0;
    this.times.length = 0;
    this.place.clear();
  }

  private before(a: number, b: number): boolean {
    return this.times[a] < this.times[b] || (this.times[a] === this.times[b] && this.keys[a] < this.keys[b]);
  }

  private swap(a: number, b: number): void {
    const k = this.keys[a], t = this.times[a];
    this.keys[a] = this.keys[b]; this.times[a] = this.times[b];
    this.keys[b] = k; this.times[b] = t;
    this.place.set(this.keys[a], a);
    this.place.set(this.keys[b], b);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let first = i;
      if (l < this.keys.length && this.before(l, first)) first = l;
      if (r < this.keys.length && this.before(r, first)) first = r;
      if (first === i) return;
      this.swap(i, first);
      i = first;
    }
  }
}
