// Findings (what checks report) and the verdict (what the config decides).

export interface Finding {
  /** SCREAMING_SNAKE symbol with a family prefix, e.g. `RBL_ZEN`, `SPF_FAIL`. */
  symbol: string;
  score: number;
  detail?: string;
  /** Name of the plugin that recorded it. */
  plugin: string;
}

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
}
