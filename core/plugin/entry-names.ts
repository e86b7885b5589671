// The name each `plugins` entry's plugin goes by: one per entry, even for two entries of one name.
import type { Issue } from '../config/schema.ts';

/** The part a plugin's own counters begin with (`rbl-extra` counts `rbl_extra_…`), as a Prometheus name allows. */
export function counterPrefix(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * What each entry's plugin goes by: its `name`, and for a later entry of a name an earlier one has, that name with
 * `#2`, `#3`… in order (`#` is in no entry's name, so none can be taken). The name keys what the core keeps per plugin
 * (its transaction and connection state, its findings' `plugin`, its `scores.max_per_plugin` cap, its log lines and
 * counters): two entries sharing one would share a blocklist's cached lookups and one cap. An entry whose name is not
 * a string (an error said elsewhere) gets ''.
 */
export function entryNames(entries: ReadonlyArray<{ name?: unknown }>): string[] {
  const seen = new Map<string, number>();
  return entries.map((entry) => {
    const name = entry?.name;
    if (typeof name !== 'string') return '';
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? name : `${name}#${n}`;
  });
}

/** What start, reload and check-config say of each entry that shares its name with an earlier one. */
export function sharedNameWarnings(entries: ReadonlyArray<{ name?: unknown }>): string[] {
  const names = entryNames(entries);
  return names.flatMap((goesBy, i) => {
    const name = entries[i]?.name;
    if (typeof name !== 'string' || goesBy === name) return [];
    const first = names.indexOf(name);
    return [`plugins[${i}].name: "${name}" is plugins[${first}]'s name too: this entry's findings, state, log lines, counters and scores.max_per_plugin cap go by "${goesBy}" (give it a name of its own, with module: giving the path of its plugin's index.ts, to choose another)`];
  });
}

/**
 * Entries whose plugins' counters would add up under one name: names that differ only in `-`, `.` and `_` (`rbl-x`
 * and `rbl_x`), or a name like a second entry's (`clamav-2` beside two `clamav`, which count as `clamav_2_…` too).
 */
export function counterClashIssues(entries: ReadonlyArray<{ name?: unknown }>, skip: (index: number) => boolean = () => false): Issue[] {
  const names = entryNames(entries);
  const issues: Issue[] = [];
  const seen = new Map<string, { index: number; name: string }>();
  for (const [i, name] of names.entries()) {
    if (skip(i) || !name) continue;
    const prefix = counterPrefix(name);
    const first = seen.get(prefix);
    if (!first) { seen.set(prefix, { index: i, name }); continue; }
    issues.push({
      path: `plugins[${i}].name`,
      message: `plugins[${i}] goes by "${name}" and plugins[${first.index}] by "${first.name}", whose counters would add up under ${prefix}_…: give one another name`,
    });
  }
  return issues;
}
