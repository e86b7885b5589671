// Findings (what checks report) and the verdict (what the config decides).

export interface Finding {
  /** SCREAMING_SNAKE symbol with a family prefix, e.g. `RBL_ZEN`, `SPF_FAIL`. */
  symbol: string;
  score: number;
  detail?: string;
  /** Name of the plugin that recorded it. */
  plugin: string;
}

/** A plugin whose positive findings summed over its `scores.max_per_plugin` cap: the total counted `cap` for them. */
export interface CappedPlugin { plugin: string; sum: number; cap: number }

export type VerdictAction = 'accept' | 'add_header' | 'quarantine' | 'reject' | 'tempfail';

export type SpamLevel = 'None' | 'Low' | 'Medium' | 'High';

export interface Verdict {
  action: VerdictAction;
  score: number;
  level: SpamLevel;
  findings: Finding[];
  /** Why: the threshold reached, or the plugin whose outcome forced the action. */
  reason: string;
  /** Set when a plugin's outcome (a rule's quarantine, say) set the action rather than the score. */
  forced?: boolean;
  /** Plugins whose findings counted less than their sum, by `scores.max_per_plugin` (absent when none). */
  capped?: CappedPlugin[];
  /** The threshold the score is judged against, as Rspamd's `[score / required]`: reject, else the most severe set. */
  required?: number;
}
