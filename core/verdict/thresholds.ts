// Which `scores:` threshold wins, and which orders of thresholds leave an action that no score can reach.
import type { Issue } from '../config/schema.ts';

/**
 * The score's actions in the order the verdict tries them, most severe first: the first threshold the total reaches
 * decides. Severity, not the size of the threshold, decides here (unlike Rspamd, where the highest threshold reached
 * wins), so a threshold at or above that of an action tried before it is never reached.
 */
export const THRESHOLD_PRECEDENCE = ['reject', 'quarantine', 'tempfail', 'add_header'] as const;

/** The spam levels in the order spamLevel tries them, highest first. */
const LEVEL_PRECEDENCE = ['high', 'medium', 'low'] as const;

type Thresholds<K extends string> = { [key in K]?: number };

/**
 * Every threshold that no total can reach because one tried before it is not above it, named by key path: an action
 * that silently never happens (a quarantine at 30 under a reject at 5) is a mistake in every case, where Rspamd's
 * order by size makes any order work and only equal thresholds useless.
 */
function unreachable<K extends string>(values: Thresholds<K>, order: readonly K[], at: string, off: string): Issue[] {
  const issues: Issue[] = [];
  order.forEach((key, i) => {
    const t = values[key];
    if (t === undefined) return;
    const before = order.slice(0, i).filter((k) => values[k] !== undefined && values[k]! <= t);
    if (!before.length) return;
    const lowest = Math.min(...before.map((k) => values[k]!));
    const named = before.map((k) => `${at}.${k} (${values[k]})`).join(' and ');
    issues.push({
      path: `${at}.${key}`,
      message: `${t} can never apply: a total of ${t} or more already reaches ${named}, tried before it (order: ${order.join(', ')}); `
        + `set it below ${lowest}${off}`,
    });
  });
  return issues;
}

/** The `scores:` thresholds out of order, each with what to change. */
export function thresholdOrderIssues(scores: Thresholds<typeof THRESHOLD_PRECEDENCE[number]> & { levels?: Thresholds<typeof LEVEL_PRECEDENCE[number]> }, at: string): Issue[] {
  return [
    ...unreachable(scores, THRESHOLD_PRECEDENCE, at, ', or null to turn it off'),
    ...(scores.levels ? unreachable(scores.levels, LEVEL_PRECEDENCE, `${at}.levels`, '') : []),
  ];
}
