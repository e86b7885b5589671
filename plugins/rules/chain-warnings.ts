// What the rules' criteria on findings can never see in this chain: a symbol no plugin records (a typo, a plugin left
// out), one recorded only by a plugin listed after rules, and a score missing what such plugins add. Said at start,
// reload and check-config, as warnings: the config is valid, but a "virus → reject" rule that never fires is silent.
import type { ChainView, SymbolListing } from '../../core/plugin/define.ts';
import { nearestSymbol } from '../../core/plugin/scored-symbols.ts';
import { globMatch } from './glob.ts';
import type { RuleSet } from './rule-set.ts';
import { whitelistOrderWarnings } from './whitelist-order.ts';

/** Whether some name beginning with `prefix` matches `glob`: the glob's characters before its first `*` fit it. */
function globReachesPrefix(glob: string, prefix: string): boolean {
  const g = glob.toLowerCase();
  const p = prefix.toLowerCase();
  for (let i = 0; i < p.length; i++) {
    if (i >= g.length) return false;
    if (g[i] === '*') return true;
    if (g[i] !== '?' && g[i] !== p[i]) return false;
  }
  return true;
}

/** How `listing` can give `glob` a finding: in its data hook (`data`), before DATA (`early`), or not at all. */
function reach(listing: SymbolListing, glob: string): 'early' | 'data' | undefined {
  if (listing.early?.some((x) => globMatch(glob, x))) return 'early';
  if (listing.any || listing.symbols.some((x) => globMatch(glob, x)) || listing.prefixes?.some((x) => globReachesPrefix(glob, x))) return 'data';
  return undefined;
}

/** A plugin records something in its data hook, so a data hook before it misses that part of the score. */
const scoresAtData = (l: SymbolListing) => !!(l.any || l.symbols.length || l.prefixes?.length);

const isGlob = (text: string) => /[*?]/.test(text);

/**
 * The warnings for `set` standing at `chain.index`, each led by its key path (`plugins[2].rules[0] (name "virus")
 * .when.symbol`). `own` is what this entry records itself: a rule sees the findings of the rules before it only.
 */
export function chainWarnings(set: RuleSet, chain: ChainView, own: (beforeRule: number) => SymbolListing): string[] {
  const at = `plugins[${chain.index}]`;
  const order = whitelistOrderWarnings(set, at);
  if (!chain.symbols) return order;
  const others = chain.names.map((name, i) => ({ name, i, listing: chain.symbols![i] })).filter((e) => e.i !== chain.index && e.listing);
  const known = [...new Set(others.flatMap((e) => [...e.listing.symbols, ...(e.listing.early ?? [])]))];
  const out: string[] = [...order];
  for (const read of set.reads) {
    const path = `${at}.${read.path}`;
    if (!read.globs) continue;
    const mine = own(read.rule);
    for (const glob of read.globs) {
      if (reach(mine, glob)) continue;
      const found = others.map((e) => ({ ...e, how: reach(e.listing, glob) })).filter((e) => e.how);
      if (found.some((e) => e.i < chain.index || e.how === 'early')) continue;
      if (found.length) {
        const names = [...new Set(found.map((e) => e.name))].join(', ');
        const they = found.length > 1 ? 'they come' : 'it comes';
        out.push(`${path}: ${glob} can come only from ${names}, and ${they} after rules in plugins, so ${found.length > 1 ? 'their' : 'its'} findings are not there yet when rules runs: list ${names} before rules`);
        continue;
      }
      const near = isGlob(glob) ? undefined : nearestSymbol(glob, [...known, ...mine.symbols]);
      out.push(`${path}: no plugin in the chain records ${isGlob(glob) ? 'a symbol matching ' : ''}${glob}, so this criterion never matches${near ? `; did you mean ${near}?` : ''}`);
    }
  }
  const scoreReads = set.reads.filter((r) => !r.globs);
  const later = [...new Set(others.filter((e) => e.i > chain.index && scoresAtData(e.listing)).map((e) => e.name))];
  if (scoreReads.length && later.length) {
    const paths = scoreReads.map((r) => `${at}.${r.path}`).join(', ');
    out.push(`${paths}: a score criterion sees the total of the findings so far, and ${later.join(', ')} ${later.length > 1 ? 'come' : 'comes'} after rules in plugins, so ${later.length > 1 ? 'their' : 'its'} scores are not in it yet: list ${later.join(', ')} before rules`);
  }
  const accepting = set.rules.filter((r) => r.actions.final?.kind === 'accept').map((r) => r.name);
  if (accepting.length && later.length) {
    out.push(`${at}: ${accepting.length > 1 ? 'the accept rules' : 'the accept rule'} ${accepting.join(', ')} ${accepting.length > 1 ? 'end' : 'ends'} the data hook, so ${later.join(', ')}, after rules in plugins, never ${later.length > 1 ? 'see' : 'sees'} the messages accepted so (a virus scanner among them would be skipped): list ${later.join(', ')} before rules`);
  }
  return out;
}
