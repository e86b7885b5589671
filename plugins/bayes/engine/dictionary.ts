// The token dictionary in memory: per token, in how many spam and ham messages it was seen.

export interface TokenStat { token: string; spam: number; ham: number }

export class Dictionary {
  /** Messages learned as spam and as ham. */
  nspam = 0;
  nham = 0;
  private index = new Map<string, number>();
  private tokens: string[] = [];
  private spamCounts = new Uint32Array(1024);
  private hamCounts = new Uint32Array(1024);

  get size(): number { return this.index.size; }

  private slot(token: string): number {
    let i = this.index.get(token);
    if (i === undefined) {
      i = this.tokens.length;
      if (i >= this.spamCounts.length) {
        const grow = (a: Uint32Array) => { const b = new Uint32Array(a.length * 2); b.set(a); return b; };
        this.spamCounts = grow(this.spamCounts);
        this.hamCounts = grow(this.hamCounts);
      }
      this.index.set(token, i);
      this.tokens.push(token);
    }
    return i;
  }

  /** Adds (or with a negative `by`, removes) counts of one token; counts never go below zero. */
  add(token: string, spam: number, ham: number): void {
    const i = this.slot(token);
    this.spamCounts[i] = Math.max(0, this.spamCounts[i] + spam);
    this.hamCounts[i] = Math.max(0, this.hamCounts[i] + ham);
  }

  /** Learns one message given its distinct tokens. */
  learn(tokens: Iterable<string>, isSpam: boolean, times = 1): void {
    for (const t of tokens) {
      const i = this.slot(t);
      if (isSpam) this.spamCounts[i] += times; else this.hamCounts[i] += times;
    }
    if (isSpam) this.nspam += times; else this.nham += times;
  }

  spamOf(token: string): number { const i = this.index.get(token); return i === undefined ? 0 : this.spamCounts[i]; }
  hamOf(token: string): number { const i = this.index.get(token); return i === undefined ? 0 : this.hamCounts[i]; }

  /** Calls `fn(spam, ham)` for a token; returns false when it is unknown. */
  lookup(token: string, fn: (spam: number, ham: number) => void): boolean {
    const i = this.index.get(token);
    if (i === undefined) return false;
    fn(this.spamCounts[i], this.hamCounts[i]);
    return true;
  }

  *entries(): IterableIterator<TokenStat> {
    for (let i = 0; i < this.tokens.length; i++) {
      const spam = this.spamCounts[i];
      const ham = this.hamCounts[i];
      if (spam || ham) yield { token: this.tokens[i], spam, ham };
    }
  }

  /** Adds every count of another dictionary (message totals included). */
  merge(other: Dictionary): void {
    for (const e of other.entries()) this.add(e.token, e.spam, e.ham);
    this.nspam += other.nspam;
    this.nham += other.nham;
  }

  clone(): Dictionary {
    const d = new Dictionary();
    d.merge(this);
    return d;
  }

  /** Keeps only the tokens `keep` accepts; returns how many went. */
  filter(keep: (e: TokenStat) => boolean): number {
    const kept = new Dictionary();
    kept.nspam = this.nspam;
    kept.nham = this.nham;
    let dropped = 0;
    for (const e of this.entries()) {
      if (keep(e)) kept.add(e.token, e.spam, e.ham); else dropped++;
    }
    this.index = kept.index;
    this.tokens = kept.tokens;
    this.spamCounts = kept.spamCounts;
    this.hamCounts = kept.hamCounts;
    return dropped;
  }
}
