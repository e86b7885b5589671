// The dependency checks behind GET /health/ready: run together, each bounded in time, and their results kept for a
// moment, so a balancer probing every 100 ms from ten places reaches clamd and Redis about once per period.
import type { HealthProblem } from '../plugin/define.ts';
import type { Logger } from '../log/types.ts';

/** One thing the gateway depends on, asked whether it answers: undefined when it does. */
export interface DependencyCheck {
  /** As the answer names it: `plugin clamav`, `state store`. */
  name: string;
  run(timeoutMs: number): Promise<HealthProblem | undefined>;
}

/** One check as GET /health/ready shows it: `status` says what a failure makes of mail. */
export interface CheckReport {
  name: string;
  status: 'ok' | HealthProblem['effect'];
  problem?: string;
}

export interface ReadinessOptions {
  /** What each check is given to answer in (1 s). */
  timeoutMs?: number;
  /** How long results are kept from the end of a round, however many probes come meanwhile (2 s). */
  keepMs?: number;
  log?: Logger;
  /** The clock results age by, in ms (performance.now). */
  now?: () => number;
}

/** Beyond the check's own bound: a check that overruns that is at fault itself, not its dependency. */
const OVERRUN_MS = 500;

export class Readiness {
  private readonly checks: () => DependencyCheck[] | Promise<DependencyCheck[]>;
  private readonly timeoutMs: number;
  private readonly keepMs: number;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private kept: { reports: CheckReport[]; at: number } | undefined;
  private round: Promise<CheckReport[]> | undefined;
  /** The status of each failing check at the last round, so the log tells of a change once, not at every round. */
  private failing = new Map<string, CheckReport['status']>();

  /** `checks` is read at each round, so a reload's plugins are the ones asked. */
  constructor(checks: () => DependencyCheck[] | Promise<DependencyCheck[]>, opts: ReadinessOptions = {}) {
    this.checks = checks;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.keepMs = opts.keepMs ?? 2000;
    this.log = opts.log;
    this.now = opts.now ?? (() => performance.now());
  }

  /** The latest results: kept ones while fresh, else those of the round under way, else of a new round. */
  report(): Promise<CheckReport[]> {
    if (this.kept && this.now() - this.kept.at < this.keepMs) return Promise.resolve(this.kept.reports);
    this.round ??= this.runRound().finally(() => { this.round = undefined; });
    return this.round;
  }

  private async runRound(): Promise<CheckReport[]> {
    // A list given at once starts its checks at once, within the call, as a probe's caller may count on.
    const listed = this.checks();
    const reports = await Promise.all((Array.isArray(listed) ? listed : await listed).map((c) => this.runOne(c)));
    this.kept = { reports, at: this.now() };
    this.logChanges(reports);
    return reports;
  }

  private async runOne(check: DependencyCheck): Promise<CheckReport> {
    const limit = this.timeoutMs + OVERRUN_MS;
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<HealthProblem>((resolve) => {
      timer = setTimeout(() => resolve({ problem: `the check itself gave no answer within ${limit} ms`, effect: 'degraded' }), limit);
    });
    let found: HealthProblem | undefined;
    try {
      found = await Promise.race([check.run(this.timeoutMs), overrun]);
    } catch (err) {
      // A check that breaks says nothing of its dependency: shown, but no reason to leave the balancer's pool.
      found = { problem: `the check itself failed: ${(err as Error)?.message ?? String(err)}`, effect: 'degraded' };
    } finally {
      clearTimeout(timer);
    }
    return found ? { name: check.name, status: found.effect, problem: found.problem } : { name: check.name, status: 'ok' };
  }

  private logChanges(reports: CheckReport[]): void {
    const now = new Map<string, CheckReport['status']>();
    for (const r of reports) {
      if (r.status === 'ok') continue;
      now.set(r.name, r.status);
      if (this.failing.get(r.name) !== r.status) this.log?.warn('readiness check failing', { dependency: r.name, effect: r.status, problem: r.problem });
    }
    for (const name of this.failing.keys()) if (!now.has(name)) this.log?.info('readiness check passing again', { dependency: name });
    this.failing = now;
  }
}

/** GET /health/ready's answer: why the gateway takes no mail, or whether it takes it fully filtered. */
export function readinessAnswer(notReady: string | undefined, checks: CheckReport[]): { status: number; body: Record<string, unknown> } {
  // Shown only when there are some, so a gateway with nothing to check answers as it always has.
  const shown = checks.length ? { checks } : {};
  if (notReady !== undefined) return { status: 503, body: { status: 'unavailable', reason: notReady, ...shown } };
  const deferring = checks.filter((c) => c.status === 'tempfail');
  if (deferring.length) return { status: 503, body: { status: 'unavailable', reason: deferring.map((c) => `${c.name}: ${c.problem}`).join('; '), ...shown } };
  return { status: 200, body: { status: checks.some((c) => c.status === 'degraded') ? 'degraded' : 'ok', ...shown } };
}
