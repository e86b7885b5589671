// Haraka results become Mailmoat findings: a FAIL and an ERROR symbol per plugin, karma's score, and the numeric score
// of the plugins the entry gives a factor (rspamd's, spamassassin's).
import type { HookContext } from '../../core/index.ts';
import type { Any } from './cjs.ts';

/** Result names the shim itself writes (Haraka's core results), not plugin verdicts. */
const CORE_RESULTS = new Set(['local', 'remote', 'helo', 'reset', 'disconnect', 'mail_from', 'rcpt_to', 'queue']);

export function symbolFor(plugin: string, suffix: string): string {
  return `HARAKA_${plugin.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_${suffix}`;
}

function asList(v: Any): string[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (x instanceof Error ? x.message : String(x)));
}

export interface FindingOptions {
  /** Score per symbol; symbols not listed score 0 (informational). */
  scores: Record<string, number>;
  /** HARAKA_KARMA scores karma's score times this (karma counts good as positive, Mailmoat counts spam). */
  karmaFactor: number;
  /** By plugin name: HARAKA_<PLUGIN>_SCORE scores the numeric `score` of its results times this (rspamd's, spamassassin's). */
  scoreFactors: Record<string, number>;
}

/** Records the findings of the connection's and the transaction's result stores. */
export function recordFindings(ctx: HookContext, stores: Any[], opts: FindingOptions): void {
  const seen = new Set<string>();
  for (const store of stores) {
    const all = store?.get_all?.() ?? {};
    for (const [name, result] of Object.entries<Any>(all)) {
      if (CORE_RESULTS.has(name)) continue;
      for (const [key, suffix] of [['fail', 'FAIL'], ['err', 'ERROR']] as const) {
        const items = asList(result?.[key]);
        if (!items.length) continue;
        const symbol = symbolFor(name, suffix);
        if (seen.has(symbol)) continue;
        seen.add(symbol);
        ctx.addFinding(symbol, opts.scores[symbol] ?? 0, items.join(', ').slice(0, 200));
      }
      if (name === 'karma' && typeof result?.score === 'number' && !seen.has('HARAKA_KARMA')) {
        seen.add('HARAKA_KARMA');
        ctx.addFinding('HARAKA_KARMA', opts.scores.HARAKA_KARMA ?? (result.score * opts.karmaFactor || 0), `karma score ${result.score}`);
      }
      const factor = Object.hasOwn(opts.scoreFactors, name) ? opts.scoreFactors[name] : undefined;
      const symbol = symbolFor(name, 'SCORE');
      if (factor !== undefined && Number.isFinite(result?.score) && !seen.has(symbol)) {
        seen.add(symbol);
        ctx.addFinding(symbol, opts.scores[symbol] ?? (result.score * factor || 0), `${name} score ${result.score}`);
      }
    }
  }
}
