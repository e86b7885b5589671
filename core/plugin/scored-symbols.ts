// A plugin's table of symbols with default scores: what the plugin declares, and the score a finding gets.

export type ScoredSymbols = Record<string, { score: number; description: string }>;

/** The `symbols` declaration of a plugin: each description with its default score. */
export function describeSymbols(table: ScoredSymbols): Record<string, string> {
  return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, `${v.description} (default score ${v.score})`]));
}

/** The score of `symbol`: the config's override, else the table's default, else 0. */
export function symbolScore(table: ScoredSymbols, symbol: string, overrides: Record<string, number>): number {
  return overrides[symbol] ?? table[symbol]?.score ?? 0;
}
