// A plugin's table of symbols with default scores: what the plugin declares, and the score a finding gets.
import { nearestKey, s, type Schema } from '../config/schema.ts';

export type ScoredSymbols = Record<string, { score: number; description: string }>;

/** The `symbols` declaration of a plugin: each description with its default score. */
export function describeSymbols(table: ScoredSymbols): Record<string, string> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, `${v.description} (default score ${v.score})`]));
}

/** The score of `symbol`: the config's override, else the table's default, else 0. */
export function symbolScore(table: ScoredSymbols, symbol: string, overrides: Record<string, number>): number {
  return overrides[symbol] ?? table[symbol]?.score ?? 0;
}

/** The symbol of `known` a mistyped one most likely meant (`SPF_FAIIL`: SPF_FAIL), if one is close enough to guess. */
export function nearestSymbol(typo: string, known: readonly string[]): string | undefined {
  const near = nearestKey(typo, known.map((k) => k.toLowerCase()));
  return near === undefined ? undefined : known.find((k) => k.toLowerCase() === near);
}

/**
 * A plugin's `scores:` overrides, a number per symbol of `table`. A key that is none of them is refused with those it
 * knows, as the gateway's own `scores.*` keys are: `SPF_FAIIL: 6` was taken without a word, and SPF_FAIL kept its 4.
 */
export function scoreOverrides(table: ScoredSymbols): Schema<Record<string, number>> {
  const known = Object.keys(table);
  return s.checked(s.record(s.number()), (value, path, issues) => {
    for (const key of Object.keys(value ?? {})) {
      if (Object.hasOwn(table, key)) continue;
      const near = nearestSymbol(key, known);
      issues.push({ path: `${path}.${key}`, message: `is not a symbol of this plugin${near ? `; did you mean ${near}?` : ''} (known: ${known.join(', ')})` });
    }
  });
}
