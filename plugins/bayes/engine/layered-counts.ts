// Several dictionaries read as one (their counts and totals summed): the gateway's file + learned + shared
// layers, or a merge's new counts over the dictionary they join. Scoring probes each layer by hash.
import type { Dictionary } from './dictionary.ts';
import type { CountReader } from './classify.ts';

/** Sums several dictionaries as one. */
export class LayeredCounts implements CountReader {
  layers: Dictionary[];
  constructor(layers: Dictionary[]) { this.layers = layers; }
  get nspam(): number { let n = 0; for (const l of this.layers) n += l.nspam; return n; }
  get nham(): number { let n = 0; for (const l of this.layers) n += l.nham; return n; }
  lookup(token: string, fn: (spam: number, ham: number) => void): boolean {
    let found = false;
    let spam = 0;
    let ham = 0;
    const take = (s: number, h: number) => { spam += s; ham += h; };
    for (const l of this.layers) if (l.lookup(token, take)) found = true;
    if (found) fn(spam, ham);
    return found;
  }

  weightOf(token: string): number {
    let w = 0;
    for (const l of this.layers) w += l.weightOf(token);
    return w;
  }
}
